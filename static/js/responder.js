// The crisis responder console: the live queue of alerts from the /responders namespace, with
// tier, age and escalation level, a sound and visual notice for new ones, and for each alert who
// wrote it and where (never more of the history than the audited context view). A claimed alert
// offers one-click outreach (join the writer's room, or a private crisis room) opening the
// ordinary chat view with its call buttons, the writer's safety plan (audited) and resolution with
// an outcome. On-call is a state the server keeps (crisis:state), not a box ticked per visit.
import { Connection } from "./connection.js";
import { el, field, formatDateTime, formatTime, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";
import { safetyPlanView } from "./safetyplan.js";

const AGE_REFRESH_MS = 15000;
export const CONSOLE_ROLES = new Set(["responder", "professional", "admin"]);
// The protocol's outcomes, in the order a responder thinks of them.
export const OUTCOMES = ["reached_safe", "referred", "emergency_services", "could_not_reach", "not_a_risk"];
const NOTE_MAX_CHARS = 2000;

/** "3 min 20 s" for a number of seconds; "no data yet" when the report has none. */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("crisis.no_data");
  const whole = Math.round(seconds);
  return t("crisis.duration", { minutes: Math.floor(whole / 60), seconds: whole % 60 });
}

/** The clock on the writer's wall right now, with its zone (their timezone, else the server's stamp). */
function writerClock(writer) {
  const options = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  try {
    return formatTime(new Date().toISOString(), currentLanguage(), { ...options, timeZone: writer.timezone || undefined });
  } catch {
    return formatTime(writer.local_time, currentLanguage(), options);
  }
}

function languageName(code) {
  if (!code) return "";
  try {
    return new Intl.DisplayNames([currentLanguage()], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

export class ResponderConsole {
  constructor(app) {
    this.app = app;
    this.alerts = new Map();
    this.onCall = null; // unknown until crisis:state answers
    this.noticeAlertId = null; // the alert the "New crisis alert" line is about
    this.conn = new Connection(app.conn.token, "/responders");
    this.notice = el("p", { class: "alert-notice", attrs: { role: "alert" } });
    this.list = el("ol", { class: "alert-list" });
    this.empty = el("p", { class: "empty", i18n: "crisis.none" });
    this.onCallState = el("p", { class: "on-call-state", attrs: { role: "status" } });
    this.onCallButton = el("button", { type: "button", hidden: true, on: { click: () => this.setOnCall(!this.onCall) } });
    this.onCallCount = el("span", { class: "hint" });
    this.report = el("dl");
    this.handoverInput = el("input", { type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: false, required: true });
    this.handoverStatus = el("p", { class: "form-status", attrs: { role: "status" } });
    this.handoverError = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.root = el("section", { class: "console", attrs: { "aria-labelledby": "console-title" } },
      el("div", { class: "console-head" },
        el("h2", { id: "console-title", i18n: "crisis.title" }),
        el("div", { class: "on-call" }, this.onCallState, this.onCallButton, this.onCallCount)),
      this.notice, this.empty, this.list,
      el("section", { class: "report", attrs: { "aria-labelledby": "report-title" } },
        el("h3", { id: "report-title", i18n: "crisis.report_title" }), this.report,
        el("button", { type: "button", class: "small", i18n: "crisis.report_refresh", on: { click: () => this.refreshReport() } })),
      el("form", { class: "handover row", on: { submit: (e) => this.handover(e) } },
        field("crisis.handover", this.handoverInput),
        el("button", { type: "submit", i18n: "crisis.handover_button" }),
        this.handoverStatus, this.handoverError));
    for (const event of ["crisis:alert", "crisis:escalated", "crisis:claimed", "crisis:resolved"]) {
      this.conn.on(event, (alert) => this.upsert(alert, event));
    }
    this.conn.on("connect", () => this.refresh());
    this.conn.open();
    this.timer = setInterval(() => this.render(), AGE_REFRESH_MS);
    onLanguageChange(() => { this.render(); this.renderOnCall(); this.refreshReport(); });
  }

  destroy() {
    clearInterval(this.timer);
    this.conn.close();
  }

  async refresh() {
    await Promise.all([this.refreshState(), this.refreshReport()]);
    for (const status of ["open", "claimed"]) {
      const { alerts } = await this.conn.call("crisis:list", { status }).catch(() => ({ alerts: [] }));
      for (const alert of alerts) this.upsert(alert, "list");
    }
  }

  upsert(alert, event) {
    const known = this.alerts.get(alert.id);
    this.alerts.set(alert.id, { ...known, ...alert, receivedAt: Date.now() });
    // Resolved by anyone, or handed to a colleague: my crisis conversation ends with the claim.
    const mine = (a) => a?.status === "claimed" && a.claimed_by?.id === this.app.me.id;
    if (mine(known) && !mine(alert)) this.forgetRoom(known.crisis_room_id);
    const isNew = !known && event === "crisis:alert" && !alert.replayed;
    if (isNew || event === "crisis:escalated") this.signal(alert, event);
    // The line names an alert somebody still has to take; once taken or closed it is stale.
    if (alert.id === this.noticeAlertId && alert.status !== "open") this.clearNotice();
    if (event === "crisis:resolved") this.refreshReport();
    this.render();
  }

  clearNotice() {
    this.noticeAlertId = null;
    this.notice.textContent = "";
  }

  /** A new or escalated alert: a short tone, the tab title, and a screen-reader alert. */
  signal(alert, event) {
    this.noticeAlertId = alert.id;
    this.notice.textContent = t(event === "crisis:escalated" ? "crisis.escalated_notice" : "crisis.new_notice", { tier: alert.tier });
    this.root.classList.remove("flash");
    void this.root.offsetWidth; // restart the flash animation
    this.root.classList.add("flash");
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 660;
      gain.gain.value = 0.15;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.35);
      tone.onended = () => audio.close();
    } catch {
      // No audio output (or blocked until the first click): the visual notice remains.
    }
  }

  ageSeconds(alert) {
    return (alert.age_seconds ?? 0) + (Date.now() - alert.receivedAt) / 1000;
  }

  render() {
    const open = [...this.alerts.values()].filter((a) => a.status !== "resolved");
    open.sort((a, b) => b.tier - a.tier || (a.created_at < b.created_at ? -1 : 1));
    this.empty.hidden = open.length > 0;
    const focusedId = document.activeElement?.closest?.(".alert")?.dataset.alertId;
    // An alert being worked on keeps its open panel (plan, context, resolve form) across re-renders.
    const panels = new Map([...this.list.querySelectorAll(".alert")].map((node) => [node.dataset.alertId, node.querySelector(".alert-details")]));
    show(this.list, ...open.map((alert) => this.renderAlert(alert, panels.get(alert.id))));
    if (focusedId) this.list.querySelector(`[data-alert-id="${CSS.escape(focusedId)}"] button`)?.focus();
    const waiting = open.filter((a) => a.status === "open").length;
    document.title = waiting ? `(${waiting}) MentalVerse Live` : "MentalVerse Live";
  }

  /** Who wrote it and where: name, language, their local time, the room's kind and who else is there. */
  renderWriter(alert) {
    const writer = alert.writer;
    if (!writer) return null;
    const room = alert.room;
    const others = (room?.participants || []).map((p) => t("crisis.participant", { role: t(`crisis.role.${p.role}`), room_role: t(`room_role.${p.room_role}`) }));
    return el("ul", { class: "writer" },
      el("li", { class: "writer-name", text: t("crisis.writer", { name: writer.display_name }) }),
      writer.language ? el("li", { text: t("crisis.writer_language", { language: languageName(writer.language) }) }) : null,
      el("li", { text: t("crisis.writer_time", { time: writerClock(writer) }) }),
      room ? el("li", { i18n: `crisis.room_kind.${room.kind}` }) : null,
      room ? el("li", { text: others.length ? t("crisis.participants", { roles: others.join(", ") }) : t("crisis.no_participants") }) : null,
      alert.has_safety_plan ? el("li", { i18n: "crisis.has_plan" }) : null);
  }

  renderAlert(alert, keptDetails) {
    const minutes = Math.floor(this.ageSeconds(alert) / 60);
    const mine = alert.status === "claimed" && alert.claimed_by?.id === this.app.me.id;
    const details = keptDetails || el("div", { class: "alert-details" });
    const button = (key, onClick, primary = false) => el("button", { type: "button", class: primary ? "primary" : "", i18n: key, on: { click: onClick } });
    const actions = el("div", { class: "row" });
    if (alert.status === "open") actions.append(button("crisis.ack", () => this.ack(alert, node), true));
    if (mine && alert.crisis_room_id) {
      actions.append(button("crisis.open_conversation", () => this.app.openConversation(alert.crisis_room_id), true),
        button("crisis.leave", () => this.leave(alert, node)));
    } else if (mine) {
      actions.append(button("crisis.reach_join", () => this.reachOut(alert, "join", node), true),
        button("crisis.reach_private", () => this.reachOut(alert, "private", node), true));
    }
    actions.append(button("crisis.context", () => this.context(alert, details)));
    if (mine && alert.has_safety_plan) actions.append(button("crisis.view_plan", () => this.safetyPlan(alert, details)));
    if (mine) actions.append(button("crisis.resolve", () => this.resolveForm(alert, details)));
    const node = el("li", { class: `alert tier-${alert.tier} status-${alert.status}`, dataset: { alertId: alert.id } },
      el("div", { class: "alert-meta" },
        el("span", { class: "tier", text: t("crisis.tier", { tier: alert.tier }) }),
        el("span", { class: "age", text: t("crisis.age", { minutes }) }),
        el("span", { class: "level", text: t("crisis.level", { level: alert.level, step: alert.step ? t(`crisis.step.${alert.step}`) : "" }) }),
        el("span", { class: "status", text: alert.status === "claimed" ? t("crisis.claimed_by", { name: alert.claimed_by?.display_name || "" }) : t("crisis.waiting") }),
        alert.contact_at ? el("span", { class: "contact", text: t("crisis.first_contact", { when: formatTime(alert.contact_at, currentLanguage()) }) }) : null),
      this.renderWriter(alert),
      el("blockquote", { class: "excerpt", text: alert.excerpt ?? t("crisis.no_excerpt"), attrs: { dir: "auto" } }),
      alert.reasons?.length ? el("p", { class: "hint", text: t("crisis.reasons", { reasons: alert.reasons.join(", ") }) }) : null,
      mine && !alert.crisis_room_id ? el("p", { class: "hint", i18n: "crisis.reach_hint" }) : null,
      actions,
      el("p", { class: "form-error", attrs: { role: "alert" } }),
      details);
    return node;
  }

  async ack(alert, node) {
    try {
      const reply = await this.conn.call("crisis:ack", { alert_id: alert.id });
      this.upsert(reply.alert, "ack");
    } catch (error) {
      node.querySelector(".form-error").textContent = errorText(error);
    }
  }

  /** One click: the crisis conversation exists (joined or new) and is open in the chat view. */
  async reachOut(alert, mode, node) {
    try {
      const { room } = await this.conn.call("crisis:reach_out", { alert_id: alert.id, mode });
      this.alerts.get(alert.id).crisis_room_id = room.id;
      this.app.store.upsertRoom(room);
      await this.app.openConversation(room.id);
      this.render();
    } catch (error) {
      node.querySelector(".form-error").textContent = errorText(error);
    }
  }

  async leave(alert, node) {
    try {
      await this.conn.call("crisis:leave", { alert_id: alert.id });
      this.forgetRoom(alert.crisis_room_id);
      this.alerts.get(alert.id).crisis_room_id = null;
      this.notice.textContent = t("crisis.left");
      this.render();
    } catch (error) {
      node.querySelector(".form-error").textContent = errorText(error);
    }
  }

  /** The responder's access to a crisis conversation ended: it leaves their room list too. */
  forgetRoom(roomId) {
    const store = this.app.store;
    if (!roomId || !store.rooms.has(roomId)) return;
    store.rooms.delete(roomId);
    store.timelines.delete(roomId);
    store.emit("rooms");
  }

  async context(alert, details) {
    try {
      const reply = await this.conn.call("crisis:context", { alert_id: alert.id, limit: 20 });
      const author = reply.author?.id;
      if (reply.private) {
        show(details, el("p", { class: "hint", i18n: "crisis.context_private" }));
        return;
      }
      show(details, el("p", { class: "hint", i18n: "crisis.audited" }),
        el("ol", { class: "context" }, ...reply.messages.map((m) => el("li", { class: m.seq === reply.message_seq ? "flagged" : "" },
          el("span", { class: "msg-author", text: m.sender_id === author ? reply.author.display_name : t("crisis.other_person") }), " ",
          el("time", { dateTime: m.created_at, text: formatTime(m.created_at, currentLanguage()) }), " ",
          el("span", { text: m.deleted ? t("chat.deleted") : m.body, attrs: { dir: "auto" } })))));
    } catch (error) {
      show(details, el("p", { class: "form-error", text: errorText(error) }));
    }
  }

  async safetyPlan(alert, details) {
    try {
      const { plan } = await this.conn.call("crisis:safety_plan", { alert_id: alert.id });
      show(details, el("h3", { i18n: "help.your_plan", class: "visually-hidden" }),
        el("p", { class: "hint", i18n: "crisis.plan_audited" }), safetyPlanView(plan));
    } catch (error) {
      show(details, el("p", { class: "form-error", text: errorText(error) }));
    }
  }

  resolveForm(alert, details) {
    const note = el("textarea", { rows: 3, required: true, maxLength: NOTE_MAX_CHARS, id: `note-${alert.id}` });
    const outcomes = el("fieldset", { class: "outcomes" }, el("legend", { i18n: "crisis.outcome" }),
      ...OUTCOMES.map((outcome) => el("label", { class: "choice" },
        el("input", { type: "radio", name: `outcome-${alert.id}`, value: outcome, required: true }),
        el("span", { i18n: `crisis.outcome.${outcome}` }))));
    show(details, el("form", {
      class: "stack",
      on: {
        submit: async (e) => {
          e.preventDefault();
          const outcome = outcomes.querySelector("input:checked").value;
          try {
            const reply = await this.conn.call("crisis:resolve", { alert_id: alert.id, outcome, note: note.value.trim() });
            this.forgetRoom(alert.crisis_room_id);
            this.upsert(reply.alert, "resolve");
            this.notice.textContent = t("crisis.resolved_notice", { when: formatDateTime(reply.alert.resolved_at, currentLanguage()) });
            this.refreshReport();
          } catch (error) {
            details.querySelector(".form-error").textContent = errorText(error);
          }
        },
      },
    }, outcomes, el("label", { htmlFor: note.id, i18n: "crisis.note" }), note,
    el("button", { type: "submit", class: "primary", i18n: "crisis.resolve" }),
    el("p", { class: "form-error", attrs: { role: "alert" } })));
    outcomes.querySelector("input").focus();
  }

  async refreshState() {
    try {
      const state = await this.conn.call("crisis:state", {});
      this.onCall = state.on_call;
      this.onCallTotal = state.on_call_count;
    } catch (error) {
      this.onCallState.textContent = errorText(error);
      return;
    }
    this.renderOnCall();
  }

  renderOnCall() {
    if (this.onCall === null) return;
    this.onCallState.textContent = t(this.onCall ? "crisis.on_call_on" : "crisis.on_call_off");
    this.onCallState.classList.toggle("on", this.onCall);
    this.onCallButton.textContent = t(this.onCall ? "crisis.go_off_call" : "crisis.go_on_call");
    this.onCallButton.hidden = false;
    this.onCallCount.textContent = t("crisis.on_call_count", { count: this.onCallTotal ?? 0 });
  }

  async setOnCall(on) {
    try {
      const reply = await this.conn.call("crisis:on_call", { on });
      this.onCall = reply.on_call;
      this.onCallTotal = reply.on_call_count;
      this.renderOnCall();
    } catch (error) {
      this.notice.textContent = errorText(error);
    }
  }

  async refreshReport() {
    let report;
    try {
      report = await this.conn.call("crisis:report", {});
    } catch (error) {
      show(this.report, el("dd", { class: "form-error", text: errorText(error) }));
      return;
    }
    const counts = (entries, label) => Object.entries(entries || {}).map(([key, n]) => `${label(key)}: ${n}`).join(" · ") || t("crisis.no_data");
    const pair = (figures) => `${duration(figures?.p50)} / ${duration(figures?.p90)}`;
    show(this.report,
      el("dt", { i18n: "crisis.report_alerts" }), el("dd", { class: "report-alerts", text: String(report.alerts) }),
      el("dt", { i18n: "crisis.report_tiers" }), el("dd", { class: "report-tiers", text: counts(report.by_tier, (tier) => t("crisis.tier", { tier })) }),
      el("dt", { i18n: "crisis.report_outcomes" }), el("dd", { class: "report-outcomes", text: counts(report.by_outcome, (outcome) => t(`crisis.outcome.${outcome}`)) }),
      el("dt", { i18n: "crisis.report_claim" }), el("dd", { class: "report-claim", text: pair(report.time_to_claim_seconds) }),
      el("dt", { i18n: "crisis.report_contact" }), el("dd", { class: "report-contact", text: pair(report.time_to_contact_seconds) }));
  }

  /** End of a shift: every alert I hold goes to a colleague who is on call (found by username). */
  async handover(event) {
    event.preventDefault();
    this.handoverStatus.textContent = "";
    this.handoverError.textContent = "";
    const username = this.handoverInput.value.trim().toLowerCase();
    try {
      const { user } = await this.app.conn.call("user:find", { username });
      await this.conn.call("crisis:handover", { to_user_id: user.id });
      this.handoverInput.value = "";
      this.handoverStatus.textContent = t("crisis.handed_over", { name: user.display_name || user.username });
      await this.refresh();
    } catch (error) {
      this.handoverError.textContent = errorText(error);
    }
  }
}
