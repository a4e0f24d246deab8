// Shared goals in a mentorship conversation (a direct room between a mentee and a mentor): propose
// a goal, agree to the other one's, tick steps off, check in (the mentee: 0–10 and a note, once a
// day), see progress as a chart and a table, mark it achieved or drop it. Every change arrives
// live to both as "goal:changed".
import { errorText } from "./chat.js";
import { el, field, formatDateTime, show } from "./dom.js";
import { progressChart, formatDay } from "./goalchart.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";

const MENTOR_ROLES = new Set(["mentor", "leader"]);
const MAX_STEPS = 12;

/** The mentorship this room holds for me, as the server defines it, or null. */
export function mentorshipOf(room, me) {
  if (room?.kind !== "direct") return null;
  const pair = room.members.filter((m) => m.room_role === "member");
  const mentee = pair.find((m) => m.role === "mentee");
  const mentor = pair.find((m) => MENTOR_ROLES.has(m.role));
  if (pair.length !== 2 || !mentee || !mentor || ![mentee.id, mentor.id].includes(me.id)) return null;
  return { mentee, mentor };
}

export class Goals {
  constructor(app) {
    this.app = app;
  }

  decorateChat(chat) {
    // Goals are kept readable to the server: a private room has none (docs/private-rooms.md).
    if (!chat.room?.private && mentorshipOf(chat.room, this.app.me)) chat.goals = new GoalsPanel(this.app, chat);
  }
}

class GoalsPanel {
  constructor(app, chat) {
    this.app = app;
    this.chat = chat;
    this.roomId = chat.roomId;
    this.goals = [];
    const id = `goals-${this.roomId}`;
    this.toggle = el("button", { type: "button", i18n: "goals.open", attrs: { "aria-expanded": "false", "aria-controls": id }, on: { click: () => this.setOpen(this.panel.hidden) } });
    this.list = el("div", { class: "goal-list" });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.panel = el("aside", { class: "goals-panel", id, attrs: { "aria-labelledby": `${id}-title` }, hidden: true },
      el("h3", { id: `${id}-title`, i18n: "goals.title" }), this.error, this.list, this.newGoalForm());
    chat.headerExtras.append(this.toggle);
    chat.scroller.before(this.panel);
    const { signal } = chat.abort;
    const onChanged = ({ room_id, goal }) => room_id === this.roomId && !signal.aborted && this.upsert(goal);
    app.conn.on("goal:changed", onChanged);
    signal.addEventListener("abort", () => app.conn.socket.off("goal:changed", onChanged));
    onLanguageChange(() => !signal.aborted && !this.panel.hidden && this.render());
  }

  get mentorship() {
    return mentorshipOf(this.chat.room, this.app.me);
  }

  get iAmMentee() {
    return this.mentorship?.mentee.id === this.app.me.id;
  }

  nameOf(userId) {
    return userId === this.app.me.id ? t("chat.you") : this.app.store.memberName(this.roomId, userId) || t("chat.someone");
  }

  async setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) await this.load();
  }

  async load() {
    try {
      this.goals = (await this.app.conn.call("goal:list", { room_id: this.roomId })).goals;
      this.error.textContent = "";
      this.render();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  upsert(goal) {
    const known = this.goals.some((g) => g.id === goal.id);
    this.goals = known ? this.goals.map((g) => (g.id === goal.id ? goal : g)) : [...this.goals, goal];
    if (!this.panel.hidden) this.render();
  }

  async act(event, payload) {
    this.error.textContent = "";
    try {
      const { goal } = await this.app.conn.call(event, { room_id: this.roomId, ...payload });
      this.upsert(goal);
      return goal;
    } catch (error) {
      this.error.textContent = errorText(error);
      return null;
    }
  }

  render() {
    const open = this.goals.filter((g) => g.status === "proposed" || g.status === "active");
    const closed = this.goals.filter((g) => !open.includes(g));
    show(this.list,
      this.goals.length ? null : el("p", { class: "empty", i18n: "goals.none" }),
      ...open.map((g) => this.renderGoal(g)),
      ...closed.map((g) => this.renderGoal(g)));
  }

  statusText(goal) {
    if (goal.status === "proposed") {
      const m = this.mentorship;
      const other = m && (m.mentee.id === this.app.me.id ? m.mentor.id : m.mentee.id);
      return goal.proposed_by === this.app.me.id
        ? t("goals.waiting_for", { name: this.nameOf(other) })
        : t("goals.proposed_by", { name: this.nameOf(goal.proposed_by) });
    }
    return t(`goals.status_${goal.status}`);
  }

  renderGoal(goal) {
    const language = currentLanguage();
    const headingId = `goal-${goal.id}`;
    const article = el("article", { class: `goal ${goal.status}`, attrs: { "aria-labelledby": headingId } },
      el("h4", { id: headingId, text: goal.title }),
      el("p", { class: "goal-status", text: this.statusText(goal) }),
      goal.why ? el("p", { class: "goal-why" }, el("span", { class: "label", i18n: "goals.why" }), " ", goal.why) : null,
      el("p", { class: "goal-target" }, el("span", { class: "label", i18n: "goals.target" }), " ",
        el("time", { dateTime: goal.target_date, text: formatDay(goal.target_date, language, { dateStyle: "long" }) })));
    if (goal.steps.length) {
      article.append(el("ul", { class: "goal-steps" }, ...goal.steps.map((step, index) => {
        const box = el("input", {
          type: "checkbox", checked: step.done, disabled: goal.status !== "active",
          on: { change: () => this.act("goal:step", { goal_id: goal.id, index, done: box.checked }) },
        });
        return el("li", {}, el("label", {}, box, " ", step.text));
      })));
    }
    const actions = el("div", { class: "goal-actions" });
    if (goal.status === "proposed" && goal.proposed_by !== this.app.me.id) {
      actions.append(el("button", { type: "button", class: "primary small", text: t("goals.agree", { title: goal.title }), on: { click: () => this.act("goal:agree", { goal_id: goal.id }) } }));
    }
    if (goal.status === "active") {
      actions.append(el("button", { type: "button", class: "small", i18n: "goals.achieved", on: { click: () => this.act("goal:close", { goal_id: goal.id, outcome: "achieved" }) } }));
    }
    if (goal.status === "active" || goal.status === "proposed") {
      actions.append(el("button", { type: "button", class: "small", i18n: "goals.drop", on: { click: () => this.act("goal:close", { goal_id: goal.id, outcome: "dropped" }) } }));
    }
    article.append(actions);
    if (goal.status === "active" && this.iAmMentee) {
      article.append(goal.checked_in_today ? el("p", { class: "goal-note", i18n: "goals.checked_in_today" }) : this.checkInForm(goal));
    }
    if (goal.check_ins?.length) article.append(this.progress(goal, language));
    return article;
  }

  checkInForm(goal) {
    const rating = el("input", { type: "number", min: 0, max: 10, step: 1, required: true, inputMode: "numeric" });
    const note = el("textarea", { rows: 2, maxLength: 500 });
    return el("form", {
      class: "check-in",
      on: {
        submit: async (e) => {
          e.preventDefault();
          await this.act("goal:check_in", { goal_id: goal.id, rating: Number(rating.value), note: note.value });
        },
      },
    }, el("h5", { i18n: "goals.check_in_title" }), field("goals.rating", rating), field("goals.note", note),
    el("button", { type: "submit", class: "primary small", i18n: "goals.check_in" }));
  }

  progress(goal, language) {
    const title = t("goals.chart_title", { title: goal.title });
    const rows = [...goal.check_ins].reverse().map((c) => el("tr", {},
      el("th", { attrs: { scope: "row" } }, el("time", { dateTime: c.day, text: formatDay(c.day, language, { dateStyle: "medium" }) })),
      el("td", { text: String(c.rating) }),
      el("td", { text: c.note })));
    return el("section", { class: "goal-progress" },
      progressChart(goal.check_ins, language, title),
      el("table", { class: "check-ins" },
        el("caption", { text: t("goals.history", { title: goal.title }) }),
        el("thead", {}, el("tr", {}, ...["goals.col_day", "goals.col_rating", "goals.col_note"].map((k) => el("th", { attrs: { scope: "col" }, i18n: k })))),
        el("tbody", {}, ...rows)),
      el("p", { class: "goal-updated", text: t("goals.updated", { when: formatDateTime(goal.updated_at, language) }) }));
  }

  newGoalForm() {
    const title = el("input", { type: "text", maxLength: 120, required: true });
    const why = el("textarea", { rows: 2, maxLength: 1000 });
    const target = el("input", { type: "date", required: true });
    const steps = el("textarea", { rows: 3, attrs: { "aria-describedby": `goal-steps-hint-${this.roomId}` } });
    const form = el("form", {
      class: "new-goal",
      on: {
        submit: async (e) => {
          e.preventDefault();
          const list = steps.value.split("\n").map((s) => s.trim()).filter(Boolean).slice(0, MAX_STEPS);
          const goal = await this.act("goal:create", { title: title.value, why: why.value, target_date: target.value, steps: list.map((text) => ({ text })) });
          if (goal) form.reset();
        },
      },
    }, el("h4", { i18n: "goals.new" }), field("goals.goal_title", title), field("goals.why_label", why), field("goals.target_label", target),
    field("goals.steps_label", steps), el("p", { class: "hint", id: `goal-steps-hint-${this.roomId}`, i18n: "goals.steps_hint" }),
    el("button", { type: "submit", class: "primary small", i18n: "goals.propose" }));
    return form;
  }
}
