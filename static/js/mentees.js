// "My mentees", for mentors: requests to answer, current mentees, how it is going (aggregates
// only), and the mentor's own profile (program, areas, bio, capacity, a pause switch). Their free
// hours are set under Sessions; certification is granted by staff and only shown here.
import { el, field, show } from "./dom.js";
import { onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";
import { AGE_RANGES, AREAS, GENDERS, TRACKS, checkedValues, choiceBoxes, codeSelect, setChecked } from "./matchwords.js";
import { MentorshipCard, blockedList, personName, ratingForm } from "./mentorshipcard.js";

export const MENTOR_ROLES = new Set(["mentor", "leader"]);
const MENTOR_EVENTS = ["match:requested", "match:expired", "mentorship:ended"];

export class MenteesView {
  constructor(app) {
    this.app = app;
    this.notice = el("p", { class: "notice", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.requests = el("ul", { class: "mentorships", attrs: { "aria-labelledby": "requests-title" } });
    this.current = el("ul", { class: "mentorships", attrs: { "aria-labelledby": "current-title" } });
    this.toRate = el("ul", { class: "to-rate" });
    this.stats = el("p", { class: "stats" });
    this.profile = new ProfileForm(app);
    this.root = el("section", { class: "mentees", attrs: { "aria-labelledby": "mentees-title" } },
      el("h2", { id: "mentees-title", i18n: "mentees.title" }), this.notice, this.error, this.stats,
      el("h3", { id: "requests-title", i18n: "mentees.requests" }), this.requests,
      el("h3", { id: "current-title", i18n: "mentees.current" }), this.current, this.toRate,
      this.profile.root, blockedList(app));
    for (const event of MENTOR_EVENTS) {
      app.conn.on(event, (data) => {
        this.notice.textContent = data.notice || "";
        this.load();
      });
    }
    app.conn.addEventListener("resync", () => this.refresh());
    onLanguageChange(() => this.load());
    this.refresh();
  }

  async refresh() {
    await Promise.all([this.load(), this.profile.load()]);
  }

  async load() {
    try {
      const [{ mentorships, to_rate: toRate }, { stats }] = await Promise.all([
        this.app.conn.call("mentorship:list"), this.app.conn.call("mentor:stats")]);
      const card = (m) => new MentorshipCard(this.app, m, { changed: () => this.load() }).root;
      const waiting = mentorships.filter((m) => m.status === "requested");
      const active = mentorships.filter((m) => m.status === "active");
      show(this.requests, ...(waiting.length ? waiting.map(card) : [el("li", { class: "empty", i18n: "mentees.no_requests" })]));
      show(this.current, ...(active.length ? active.map(card) : [el("li", { class: "empty", i18n: "mentees.no_mentees" })]));
      const menteeOf = new Map(mentorships.map((m) => [m.room_id, personName(m.mentee)]));
      show(this.toRate, ...toRate.map((s) => ratingForm(this.app, s, menteeOf.get(s.room_id) || "", (text) => {
        this.notice.textContent = text;
        this.load();
      })));
      this.stats.textContent = [
        t("stats.mentees", { count: stats.active_mentees }), t("stats.sessions", { count: stats.sessions_completed }),
        stats.average_rating === null ? t("stats.rating_hidden") : t("stats.rating", { rating: stats.average_rating, count: stats.ratings }),
        stats.response_hours === null ? "" : t("stats.response", { hours: stats.response_hours }),
      ].filter(Boolean).join(" · ");
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}

/** The mentor's own profile. Capacity and the pause switch decide who can ask them. */
class ProfileForm {
  constructor(app) {
    this.app = app;
    this.track = el("select", {}, ...TRACKS.map((c) => el("option", { value: c, i18n: `track.${c}` })));
    this.areas = choiceBoxes(el, "profile.areas", AREAS, (c) => ({ i18n: `area.${c}` }));
    this.lived = choiceBoxes(el, "profile.lived", AREAS, (c) => ({ i18n: `area.${c}` }));
    this.bio = el("textarea", { rows: 4, maxLength: 600 });
    this.gender = codeSelect(el, GENDERS, (c) => ({ i18n: `gender.${c}` }), "profile.not_said");
    this.age = codeSelect(el, AGE_RANGES, (c) => ({ text: c }), "profile.not_said");
    this.capacity = el("input", { type: "number", min: 1, max: 20, value: "3" });
    this.accepting = el("input", { type: "checkbox", id: "profile-accepting", checked: true });
    this.certification = el("p", { class: "hint" });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.root = el("details", { class: "card profile-card" }, el("summary", { i18n: "profile.title" }),
      el("form", { class: "stack", on: { submit: (e) => this.save(e) } },
        el("p", { class: "hint", i18n: "profile.hours_hint" }), this.certification,
        field("profile.track", this.track), this.areas, this.lived, field("profile.bio", this.bio),
        field("profile.gender", this.gender), field("profile.age", this.age), field("profile.capacity", this.capacity),
        el("span", { class: "toggle" }, this.accepting, el("label", { htmlFor: this.accepting.id, i18n: "profile.accepting" })),
        el("button", { type: "submit", class: "primary", i18n: "profile.save" }), this.status, this.error));
  }

  async load() {
    try {
      const { profile } = await this.app.conn.call("mentor_profile:get", {});
      this.root.open = !profile;
      if (!profile) return;
      this.track.value = profile.track;
      setChecked(this.areas, profile.areas);
      setChecked(this.lived, profile.lived_experience);
      this.bio.value = profile.bio;
      this.gender.value = profile.gender;
      this.age.value = profile.age_range;
      this.capacity.value = String(profile.capacity);
      this.accepting.checked = profile.accepting;
      this.certification.textContent = profile.certification
        ? t("profile.certified", { level: t(`certification.${profile.certification}`), hours: profile.certification_hours })
        : t("profile.not_certified");
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  async save(event) {
    event.preventDefault();
    this.status.textContent = "";
    this.error.textContent = "";
    try {
      await this.app.conn.call("mentor_profile:set", {
        track: this.track.value, areas: checkedValues(this.areas), lived_experience: checkedValues(this.lived), bio: this.bio.value,
        gender: this.gender.value, age_range: this.age.value, capacity: Number(this.capacity.value), accepting: this.accepting.checked,
      });
      this.status.textContent = t("profile.saved");
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
