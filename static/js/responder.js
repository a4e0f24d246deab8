// The crisis responder console: the live queue of alerts from the /responders namespace, with
// tier, age and escalation level, a sound and visual notice for new ones, claim (ack), resolve
// with a note, and the context view (opening it is written to the audit log by the server).
import { Connection } from "./connection.js";
import { el, formatDateTime, formatTime, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";

const AGE_REFRESH_MS = 15000;
export const CONSOLE_ROLES = new Set(["responder", "professional", "admin"]);

export class ResponderConsole {
  constructor(app) {
    this.app = app;
    this.alerts = new Map();
    this.conn = new Connection(app.conn.token, "/responders");
    this.notice = el("p", { class: "alert-notice", attrs: { role: "alert" } });
    this.list = el("ol", { class: "alert-list" });
    this.empty = el("p", { class: "empty", i18n: "crisis.none" });
    this.onCall = el("input", { type: "checkbox", id: "on-call", on: { change: () => this.setOnCall() } });
    this.root = el("section", { class: "console", attrs: { "aria-labelledby": "console-title" } },
      el("div", { class: "console-head" },
        el("h2", { id: "console-title", i18n: "crisis.title" }),
        el("label", { class: "toggle", htmlFor: "on-call" }, this.onCall, el("span", { i18n: "crisis.on_call" }))),
      this.notice, this.empty, this.list);
    for (const event of ["crisis:alert", "crisis:escalated", "crisis:claimed", "crisis:resolved"]) {
      this.conn.on(event, (alert) => this.upsert(alert, event));
    }
    this.conn.on("connect", () => this.refresh());
    this.conn.open();
    this.timer = setInterval(() => this.render(), AGE_REFRESH_MS);
    onLanguageChange(() => this.render());
  }

  destroy() {
    clearInterval(this.timer);
    this.conn.close();
  }

  async refresh() {
    for (const status of ["open", "claimed"]) {
      const { alerts } = await this.conn.call("crisis:list", { status }).catch(() => ({ alerts: [] }));
      for (const alert of alerts) this.upsert(alert, "list");
    }
  }

  upsert(alert, event) {
    const known = this.alerts.get(alert.id);
    this.alerts.set(alert.id, { ...known, ...alert, receivedAt: Date.now() });
    const isNew = !known && event === "crisis:alert" && !alert.replayed;
    if (isNew || event === "crisis:escalated") this.signal(alert, event);
    this.render();
  }

  /** A new or escalated alert: a short tone, the tab title, and a screen-reader alert. */
  signal(alert, event) {
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
    show(this.list, ...open.map((alert) => this.renderAlert(alert)));
    if (focusedId) this.list.querySelector(`[data-alert-id="${CSS.escape(focusedId)}"] button`)?.focus();
    const waiting = open.filter((a) => a.status === "open").length;
    document.title = waiting ? `(${waiting}) MentalVerse Live` : "MentalVerse Live";
  }

  renderAlert(alert) {
    const minutes = Math.floor(this.ageSeconds(alert) / 60);
    const mine = alert.claimed_by?.id === this.app.me.id;
    const details = el("div", { class: "alert-details" });
    const node = el("li", { class: `alert tier-${alert.tier} status-${alert.status}`, dataset: { alertId: alert.id } },
      el("div", { class: "alert-meta" },
        el("span", { class: "tier", text: t("crisis.tier", { tier: alert.tier }) }),
        el("span", { class: "age", text: t("crisis.age", { minutes }) }),
        el("span", { class: "level", text: t("crisis.level", { level: alert.level, step: alert.step ? t(`crisis.step.${alert.step}`) : "" }) }),
        el("span", { class: "status", text: alert.status === "claimed" ? t("crisis.claimed_by", { name: alert.claimed_by?.display_name || "" }) : t("crisis.waiting") })),
      el("blockquote", { class: "excerpt", text: alert.excerpt ?? t("crisis.no_excerpt"), attrs: { dir: "auto" } }),
      alert.reasons?.length ? el("p", { class: "hint", text: t("crisis.reasons", { reasons: alert.reasons.join(", ") }) }) : null,
      el("div", { class: "row" },
        alert.status === "open" ? el("button", { type: "button", class: "primary", i18n: "crisis.ack", on: { click: () => this.ack(alert, node) } }) : null,
        el("button", { type: "button", i18n: "crisis.context", on: { click: () => this.context(alert, details) } }),
        mine ? el("button", { type: "button", i18n: "crisis.resolve", on: { click: () => this.resolveForm(alert, details) } }) : null),
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

  async context(alert, details) {
    try {
      const reply = await this.conn.call("crisis:context", { alert_id: alert.id, limit: 20 });
      const author = reply.author?.id;
      show(details, el("p", { class: "hint", i18n: "crisis.audited" }),
        el("ol", { class: "context" }, ...reply.messages.map((m) => el("li", { class: m.seq === reply.message_seq ? "flagged" : "" },
          el("span", { class: "msg-author", text: m.sender_id === author ? reply.author.display_name : t("crisis.other_person") }), " ",
          el("time", { dateTime: m.created_at, text: formatTime(m.created_at, currentLanguage()) }), " ",
          el("span", { text: m.deleted ? t("chat.deleted") : m.body, attrs: { dir: "auto" } })))));
      this.alerts.get(alert.id).contextShown = true;
    } catch (error) {
      show(details, el("p", { class: "form-error", text: errorText(error) }));
    }
  }

  resolveForm(alert, details) {
    const note = el("textarea", { rows: 3, required: true, maxLength: 2000, id: `note-${alert.id}` });
    show(details, el("form", {
      class: "stack",
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            const reply = await this.conn.call("crisis:resolve", { alert_id: alert.id, note: note.value.trim() });
            this.upsert(reply.alert, "resolve");
            this.notice.textContent = t("crisis.resolved_notice", { when: formatDateTime(reply.alert.resolved_at, currentLanguage()) });
          } catch (error) {
            details.querySelector(".form-error").textContent = errorText(error);
          }
        },
      },
    }, el("label", { htmlFor: note.id, i18n: "crisis.note" }), note,
    el("button", { type: "submit", class: "primary", i18n: "crisis.resolve" }),
    el("p", { class: "form-error", attrs: { role: "alert" } })));
    note.focus();
  }

  async setOnCall() {
    try {
      await this.conn.call("crisis:on_call", { on: this.onCall.checked });
    } catch (error) {
      this.onCall.checked = !this.onCall.checked;
      this.notice.textContent = errorText(error);
    }
  }
}
