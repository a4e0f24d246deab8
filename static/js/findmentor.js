// "Find a mentor", for mentees: what they look for (every answer optional, editable, deletable),
// suggestions with the reasons in plain words, browsing with filters, asking a mentor with a short
// note, and their mentorships (conversation, booking, a different mentor, end, block, report).
import { el, field, show } from "./dom.js";
import { onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";
import {
  AGE_RANGES, AREAS, GENDERS, LANGUAGE_CHOICES, PARTS_OF_DAY, TRACKS, checkedValues, choiceBoxes, codeSelect,
  languageName, mentorSummary, reasonsLine, setChecked, timesLine,
} from "./matchwords.js";
import { MentorshipCard, blockedList, personName, ratingForm } from "./mentorshipcard.js";

const SUGGESTIONS = 5;
const BROWSE_PAGE = 10;
const MENTEE_EVENTS = ["match:accepted", "match:declined", "match:expired", "mentorship:ended"];

export class FindMentorView {
  constructor(app) {
    this.app = app;
    this.notice = el("p", { class: "notice", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.mine = el("ul", { class: "mentorships" });
    this.toRate = el("ul", { class: "to-rate" });
    this.cards = el("ol", { class: "mentor-cards", attrs: { "aria-labelledby": "suggestions-title" } });
    this.intake = new IntakeForm(app, () => this.suggest());
    this.browser = new MentorBrowser(app, (mentor, reasons) => this.card(mentor, reasons));
    this.root = el("section", { class: "find-mentor", attrs: { "aria-labelledby": "find-mentor-title" } },
      el("h2", { id: "find-mentor-title", i18n: "mentors.title" }),
      el("p", { class: "hint", i18n: "mentors.intro" }),
      this.notice, this.error,
      el("h3", { i18n: "mentorship.mine" }), this.mine, this.toRate,
      el("div", { class: "row heading-row" }, el("h3", { id: "suggestions-title", i18n: "mentors.suggestions" }),
        el("button", { type: "button", class: "small", i18n: "mentors.refresh", on: { click: () => this.suggest() } })),
      this.cards, this.intake.root, this.browser.root, blockedList(app));
    for (const event of MENTEE_EVENTS) {
      app.conn.on(event, (data) => {
        this.notice.textContent = data.notice || "";
        this.load();
        if (data.matches) this.showMatches(data.matches);
      });
    }
    app.conn.addEventListener("resync", () => this.refresh());
    onLanguageChange(() => this.refresh());
    this.refresh();
  }

  async refresh() {
    await Promise.all([this.load(), this.intake.load().then(() => this.suggest())]);
  }

  async load() {
    try {
      const { mentorships, to_rate: toRate } = await this.app.conn.call("mentorship:list");
      const shown = mentorships.filter((m) => ["requested", "active"].includes(m.status));
      show(this.mine, ...(shown.length ? shown.map((m) => new MentorshipCard(this.app, m, { changed: (reply) => this.changed(reply) }).root)
        : [el("li", { class: "empty", i18n: "mentorship.none" })]));
      const mentorOf = new Map(mentorships.map((m) => [m.room_id, personName(m.mentor)]));
      show(this.toRate, ...toRate.map((s) => ratingForm(this.app, s, mentorOf.get(s.room_id) || "", (text) => {
        this.notice.textContent = text;
        this.load();
      })));
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  /** After a change of mentor (or any step with new suggestions), show them at once. */
  changed(reply) {
    this.load();
    if (reply?.matches) {
      this.notice.textContent = t("mentors.new_suggestions");
      this.showMatches(reply.matches);
    }
  }

  async suggest() {
    try {
      const { matches } = await this.app.conn.call("matching:suggestions", { limit: SUGGESTIONS });
      this.showMatches(matches);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  showMatches(matches) {
    show(this.cards, ...(matches.length ? matches.map((m) => this.card(m.mentor, m.reasons)) : [el("li", { class: "empty", i18n: "mentors.none" })]));
  }

  /** A mentor's card: name, why they are suggested, what they offer, and "Ask". */
  card(mentor, reasons) {
    const name = personName(mentor);
    const slot = el("div", { class: "request-slot" });
    const ask = el("button", { type: "button", class: "primary small", text: t("mentors.ask", { name }), disabled: mentor.full,
      on: { click: () => this.requestForm(mentor, slot, ask) } });
    return el("li", { class: "card mentor-card", dataset: { mentorId: mentor.id } },
      el("h4", { text: name }),
      reasons?.length ? el("p", { class: "reasons", text: reasonsLine(reasons) }) : null,
      el("p", { class: "hint", text: mentorSummary(mentor) }),
      mentor.bio ? el("p", { class: "bio", text: mentor.bio }) : null,
      mentor.times.length ? el("p", { class: "hint", text: t("mentors.free", { times: timesLine(mentor.times) }) }) : null,
      mentor.full ? el("p", { class: "hint", i18n: "mentors.full" }) : null,
      el("div", { class: "row" }, ask), slot);
  }

  requestForm(mentor, slot, ask) {
    const name = personName(mentor);
    const note = el("textarea", { rows: 3, maxLength: 500 });
    const error = el("p", { class: "form-error", attrs: { role: "alert" } });
    ask.hidden = true;
    const cancel = () => { show(slot); ask.hidden = false; };
    show(slot, el("form", {
      class: "stack",
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            await this.app.conn.call("match:request", { mentor_id: mentor.id, note: note.value });
            show(slot, el("p", { attrs: { role: "status" }, text: t("mentors.requested", { name }) }));
            this.load();
          } catch (err) {
            error.textContent = errorText(err);
          }
        },
      },
    }, field("mentors.note", note), el("p", { class: "hint", text: t("mentors.note_hint", { name }) }),
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary small", i18n: "mentors.send_request" }),
      el("button", { type: "button", class: "small", i18n: "mentorship.cancel", on: { click: cancel } })), error));
    note.focus();
  }
}

/** What I look for: every answer optional, saved sealed, deletable; plus the name mentors see. */
class IntakeForm {
  constructor(app, saved) {
    this.app = app;
    this.saved = saved;
    this.support = choiceBoxes(el, "intake.support", AREAS, (c) => ({ i18n: `area.${c}` }));
    this.goals = el("textarea", { rows: 3, maxLength: 1000 });
    this.languages = choiceBoxes(el, "intake.languages", LANGUAGE_CHOICES, (c) => ({ text: languageName(c) }));
    this.relationship = codeSelect(el, ["peer", "professional"], (c) => ({ i18n: `intake.relationship_${c}` }), "intake.no_preference");
    this.format = codeSelect(el, ["one_to_one", "group"], (c) => ({ i18n: `intake.format_${c}` }), "intake.no_preference");
    this.times = choiceBoxes(el, "intake.times", PARTS_OF_DAY, (c) => ({ i18n: `part.${c}` }));
    this.gender = codeSelect(el, GENDERS, (c) => ({ i18n: `gender.${c}` }), "intake.no_preference");
    this.age = codeSelect(el, AGE_RANGES, (c) => ({ text: c }), "intake.no_preference");
    this.shared = el("input", { type: "checkbox", id: "intake-shared" });
    this.handle = el("input", { type: "text", maxLength: 40, autocomplete: "off", attrs: { "aria-describedby": "intake-handle-hint" } });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.form = el("form", { class: "intake stack", on: { submit: (e) => this.save(e) } },
      el("p", { class: "hint", i18n: "intake.explained" }),
      this.support, field("intake.goals", this.goals), el("p", { class: "hint", i18n: "intake.goals_hint" }),
      this.languages, field("intake.relationship", this.relationship), field("intake.format", this.format), this.times,
      el("fieldset", { class: "choices" }, el("legend", { i18n: "intake.preferences" }),
        field("intake.pref_gender", this.gender), field("intake.pref_age", this.age),
        el("span", { class: "toggle" }, this.shared, el("label", { htmlFor: this.shared.id, i18n: "intake.pref_shared" }))),
      field("intake.handle", this.handle), el("p", { class: "hint", id: "intake-handle-hint", i18n: "intake.handle_hint" }),
      el("div", { class: "row" }, el("button", { type: "submit", class: "primary", i18n: "intake.save" }),
        el("button", { type: "button", i18n: "intake.delete", on: { click: () => this.remove() } })),
      this.status, this.error);
    this.root = el("details", { class: "card intake-card" }, el("summary", { i18n: "intake.title" }), this.form);
  }

  async load() {
    try {
      const { intake } = await this.app.conn.call("intake:get");
      this.fill(intake);
      this.handle.value = this.app.me.pseudonym || "";
      this.root.open = !intake;
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  fill(intake) {
    const i = intake || { support: [], goals: "", languages: [], relationship: "", format: "", times: [], preferences: {} };
    setChecked(this.support, i.support);
    this.goals.value = i.goals || "";
    setChecked(this.languages, i.languages.length ? i.languages : this.app.me.languages);
    this.relationship.value = i.relationship || "";
    this.format.value = i.format || "";
    setChecked(this.times, i.times);
    this.gender.value = i.preferences?.gender || "";
    this.age.value = i.preferences?.age_range || "";
    this.shared.checked = Boolean(i.preferences?.shared_experience);
  }

  async save(event) {
    event.preventDefault();
    this.status.textContent = "";
    this.error.textContent = "";
    const intake = {
      support: checkedValues(this.support), goals: this.goals.value, languages: checkedValues(this.languages),
      relationship: this.relationship.value, format: this.format.value, times: checkedValues(this.times),
      preferences: { gender: this.gender.value, age_range: this.age.value, shared_experience: this.shared.checked },
    };
    try {
      await this.app.conn.call("intake:set", { intake });
      const handle = this.handle.value.trim();
      if (handle !== (this.app.me.pseudonym || "")) {
        const { user } = await this.app.conn.call("profile:update", { pseudonym: handle });
        Object.assign(this.app.me, user);
      }
      this.status.textContent = t("intake.saved");
      this.root.open = false;
      await this.saved();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  async remove() {
    try {
      await this.app.conn.call("intake:delete");
      if (this.app.me.pseudonym) Object.assign(this.app.me, (await this.app.conn.call("profile:update", { pseudonym: "" })).user);
      this.fill(null);
      this.handle.value = "";
      this.status.textContent = t("intake.deleted");
      await this.saved();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}

/** Every accepting mentor, filtered by area, language and program, a page at a time. */
class MentorBrowser {
  constructor(app, card) {
    this.app = app;
    this.card = card;
    this.offset = 0;
    this.area = codeSelect(el, AREAS, (c) => ({ i18n: `area.${c}` }), "mentors.any");
    this.language = codeSelect(el, LANGUAGE_CHOICES, (c) => ({ text: languageName(c) }), "mentors.any");
    this.track = codeSelect(el, TRACKS, (c) => ({ i18n: `track.${c}` }), "mentors.any");
    this.list = el("ol", { class: "mentor-cards" });
    this.more = el("button", { type: "button", hidden: true, i18n: "mentors.more", on: { click: () => this.page() } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    const form = el("form", { class: "row filters", on: { submit: (e) => { e.preventDefault(); this.page(true); } } },
      field("mentors.filter_area", this.area), field("mentors.filter_language", this.language), field("mentors.filter_track", this.track),
      el("button", { type: "submit", i18n: "mentors.show" }));
    this.root = el("details", { class: "card browse" }, el("summary", { i18n: "mentors.browse" }), form, this.list, this.more, this.error);
  }

  async page(fresh = false) {
    if (fresh) this.offset = 0;
    try {
      const filters = { area: this.area.value, language: this.language.value, track: this.track.value };
      const { mentors, total } = await this.app.conn.call("matching:browse", { filters, offset: this.offset, limit: BROWSE_PAGE });
      const cards = mentors.map((m) => this.card(m, []));
      if (fresh) show(this.list, ...(cards.length ? cards : [el("li", { class: "empty", i18n: "mentors.none_browse" })]));
      else this.list.append(...cards);
      this.offset += mentors.length;
      this.more.hidden = this.offset >= total;
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
