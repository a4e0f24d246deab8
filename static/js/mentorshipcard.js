// One mentorship or request as either of its two people sees it, with what they can do next:
// answer a request, open the conversation, book a session, ask for a different mentor, end it,
// block or report the other person. Every step that cannot be undone asks first, inline (no
// browser dialogs), and says what the other person will and will not be told.
import { el, formatDateTime, show } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";
import { errorText } from "./chat.js";
import { areaName, languageName } from "./matchwords.js";

export const REPORT_REASONS = ["harassment", "hate", "sexual", "spam", "scam", "impersonation", "self_harm", "boundaries", "other"];
const SLOT_DAYS = 7;
const MAX_SLOTS = 24;

export function personName(person) {
  return person?.display_name || person?.username || "";
}

export class MentorshipCard {
  /** @param {object} app  @param {object} m a mentorship view  @param {object} hooks {changed(reply?)} */
  constructor(app, m, hooks) {
    this.app = app;
    this.m = m;
    this.hooks = hooks;
    this.other = m.role === "mentor" ? m.mentee : m.mentor;
    this.panel = el("div", { class: "mentorship-panel" });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.root = el("li", { class: "card mentorship", dataset: { mentorshipId: m.id, status: m.status } },
      el("h4", { text: this.heading() }),
      ...this.details(),
      el("div", { class: "row actions" }, ...this.actions()),
      this.panel, this.status, this.error);
  }

  heading() {
    const name = personName(this.other);
    const mine = this.m.role === "mentee" ? "mentee" : "mentor";
    return t(`mentorship.${mine}_${this.m.status}`, { name });
  }

  details() {
    const m = this.m;
    const out = [];
    if (m.note) out.push(el("blockquote", { class: "note", text: m.note }));
    const wants = m.looking_for;
    if (wants && (wants.support.length || wants.languages.length)) {
      out.push(el("p", { class: "hint", text: t("mentees.looking_for", {
        areas: wants.support.map(areaName).join(", ") || "–", languages: wants.languages.map(languageName).join(", ") || "–" }) }));
    }
    if (m.status === "requested" && m.expires_at) {
      out.push(el("p", { class: "hint", text: t("mentorship.expires", { when: formatDateTime(m.expires_at, currentLanguage()) }) }));
    }
    return out;
  }

  actions() {
    const m = this.m;
    const button = (key, handler, cls = "small") => el("button", { type: "button", class: cls, i18n: key, on: { click: handler } });
    if (m.status === "requested" && m.role === "mentor") {
      return [button("mentees.accept", () => this.answer(true), "small primary"), button("mentees.decline", () => this.confirmDecline()),
        button("mentorship.block", () => this.confirmBlock()), button("mentorship.report", () => this.reportForm())];
    }
    if (m.status === "requested") return [button("mentorship.withdraw", () => this.end())];
    if (m.status !== "active") return [];
    const open = button("mentorship.open_chat", () => this.openChat(), "small primary");
    const common = [button("mentorship.end", () => this.confirmEnd()), button("mentorship.block", () => this.confirmBlock()),
      button("mentorship.report", () => this.reportForm())];
    if (m.role === "mentor") return [open, ...common];
    return [open, button("mentorship.book", () => this.slots()), button("mentorship.rematch", () => this.confirmRematch()), ...common];
  }

  async run(step) {
    this.error.textContent = "";
    try {
      return await step();
    } catch (error) {
      this.error.textContent = errorText(error);
      return null;
    }
  }

  async openChat() {
    const roomId = this.m.room_id;
    if (roomId) await this.run(() => this.app.openConversation(roomId));
  }

  async answer(accept) {
    const reply = await this.run(() => this.app.conn.call("match:respond", { mentorship_id: this.m.id, accept }));
    if (reply) this.hooks.changed(reply);
  }

  async end() {
    const reply = await this.run(() => this.app.conn.call("mentorship:end", { mentorship_id: this.m.id }));
    if (reply) this.hooks.changed(reply);
  }

  /** Inline "are you sure?": the explanation, a confirming button and a way back. */
  confirm(explanationKey, confirmKey, onYes) {
    const no = el("button", { type: "button", class: "small", i18n: "mentorship.cancel", on: { click: () => show(this.panel) } });
    const yes = el("button", { type: "button", class: "small danger", i18n: confirmKey, on: { click: () => { show(this.panel); onYes(); } } });
    show(this.panel, el("p", { text: t(explanationKey, { name: personName(this.other) }) }), el("div", { class: "row" }, yes, no));
    yes.focus();
  }

  confirmDecline() {
    this.confirm("mentees.decline_explained", "mentees.decline", () => this.answer(false));
  }

  confirmEnd() {
    this.confirm("mentorship.end_explained", "mentorship.end", () => this.end());
  }

  confirmRematch() {
    this.confirm("mentorship.rematch_explained", "mentorship.rematch_yes", async () => {
      const reply = await this.run(() => this.app.conn.call("mentorship:rematch", { mentorship_id: this.m.id }));
      if (reply) this.hooks.changed(reply);
    });
  }

  confirmBlock() {
    this.confirm("mentorship.block_explained", "mentorship.block", async () => {
      const reply = await this.run(() => this.app.conn.call("user:block", { user_id: this.other.id }));
      if (reply) this.hooks.changed(reply);
    });
  }

  reportForm() {
    const reason = el("select", { id: `report-reason-${this.m.id}` },
      ...REPORT_REASONS.map((code) => el("option", { value: code, i18n: `report.reason_${code}` })));
    const text = el("textarea", { id: `report-text-${this.m.id}`, rows: 3, maxLength: 2000 });
    const form = el("form", {
      class: "report-form stack",
      on: {
        submit: async (e) => {
          e.preventDefault();
          const reply = await this.run(() => this.app.conn.call("user:report", {
            user_id: this.other.id, reason: reason.value, text: text.value, room_id: this.m.room_id || "" }));
          if (reply) {
            show(this.panel);
            this.status.textContent = t("report.sent");
          }
        },
      },
    },
    el("p", { class: "hint", text: t("report.explained", { name: personName(this.other) }) }),
    el("div", { class: "field" }, el("label", { htmlFor: reason.id, i18n: "report.reason" }), reason),
    el("div", { class: "field" }, el("label", { htmlFor: text.id, i18n: "report.text" }), text),
    el("div", { class: "row" }, el("button", { type: "submit", class: "small danger", i18n: "report.send" }),
      el("button", { type: "button", class: "small", i18n: "mentorship.cancel", on: { click: () => show(this.panel) } })));
    show(this.panel, form);
    reason.focus();
  }

  /** The mentor's free slots of the coming week, in the reader's time; one press books. */
  async slots() {
    const mentor = this.m.mentor;
    const reply = await this.run(() => this.app.conn.call("availability:slots", { host_id: mentor.id, days: SLOT_DAYS }));
    if (!reply) return;
    const free = reply.slots.filter((s) => s.free && Date.parse(s.starts_at) > Date.now()).slice(0, MAX_SLOTS);
    show(this.panel, el("h5", { text: t("booking.title", { name: personName(mentor) }) }),
      free.length ? el("ul", { class: "slots" }, ...free.map((slot) => el("li", {},
        el("button", { type: "button", class: "small", text: formatDateTime(slot.starts_at, currentLanguage()), on: { click: () => this.book(slot) } }))))
        : el("p", { class: "empty", i18n: "booking.none" }));
  }

  async book(slot) {
    const reply = await this.run(() => this.app.conn.call("session:book", { host_id: this.m.mentor.id, starts_at: slot.starts_at }));
    if (!reply) return;
    show(this.panel);
    this.status.textContent = t("booking.booked", { name: personName(this.m.mentor), when: formatDateTime(slot.starts_at, currentLanguage()) });
  }
}

/** "How was your session?": a 1–5 rating and a comment only staff read. */
export function ratingForm(app, session, otherName, done) {
  const id = `rate-${session.id}`;
  const stars = el("select", { id: `${id}-stars` }, ...[5, 4, 3, 2, 1].map((n) => el("option", { value: String(n), text: t("rate.stars_n", { n }) })));
  const comment = el("textarea", { id: `${id}-comment`, rows: 2, maxLength: 2000 });
  const error = el("p", { class: "form-error", attrs: { role: "alert" } });
  return el("li", { class: "card rate" }, el("form", {
    class: "stack",
    on: {
      submit: async (e) => {
        e.preventDefault();
        try {
          await app.conn.call("feedback:give", { session_id: session.id, rating: Number(stars.value), comment: comment.value });
          done(t("rate.thanks"));
        } catch (err) {
          error.textContent = errorText(err);
        }
      },
    },
  },
  el("h4", { text: t("rate.title", { name: otherName, when: formatDateTime(session.starts_at, currentLanguage()) }) }),
  el("div", { class: "field" }, el("label", { htmlFor: stars.id, i18n: "rate.rating" }), stars),
  el("div", { class: "field" }, el("label", { htmlFor: comment.id, i18n: "rate.comment" }), comment),
  el("button", { type: "submit", class: "small primary", i18n: "rate.send" }), error));
}

/** The people I blocked, each with "Unblock" (read when opened, so it is always current). */
export function blockedList(app) {
  const list = el("ul", { class: "blocked" });
  const error = el("p", { class: "form-error", attrs: { role: "alert" } });
  const load = async () => {
    try {
      const { users } = await app.conn.call("user:blocks");
      show(list, ...(users.length ? users.map((user) => el("li", { class: "row" }, el("span", { text: personName(user) }),
        el("button", {
          type: "button", class: "small", i18n: "blocked.unblock",
          on: { click: async () => { await app.conn.call("user:unblock", { user_id: user.id }).catch((e) => { error.textContent = errorText(e); }); load(); } },
        }))) : [el("li", { class: "empty", i18n: "blocked.none" })]));
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const box = el("details", { class: "card blocked-card", on: { toggle: () => box.open && load() } },
    el("summary", { i18n: "blocked.title" }), el("p", { class: "hint", i18n: "blocked.hint" }), list, error);
  return box;
}
