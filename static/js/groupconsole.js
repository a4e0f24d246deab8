// Group rooms: the member's hand-raise button and mute notice, and the leader console (members
// with mute/remove, the hand-raise queue, lock, agenda, hand-over). State comes from
// `group:state` and every `group:action` broadcast, which carries the group's new state.
import { el, show } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./chat.js";
import { inviteForm } from "./groupcreate.js";

const MODERATORS = new Set(["leader", "co-leader"]);

export class GroupPanel {
  constructor(chat) {
    this.chat = chat;
    this.app = chat.app;
    this.roomId = chat.roomId;
    this.group = null;
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.handButton = el("button", { type: "button", on: { click: () => this.toggleHand() } });
    this.muteNotice = el("p", { class: "muted-notice", attrs: { role: "status" }, hidden: true });
    // Who has the floor, for everyone; the member given it is told in words of their own.
    this.floorNotice = el("p", { class: "floor-notice", attrs: { role: "status" }, hidden: true });
    this.consoleButton = el("button", { type: "button", i18n: "group.console", attrs: { "aria-expanded": "false", "aria-controls": `group-console-${this.roomId}` }, on: { click: () => this.toggleConsole() } });
    this.console = el("aside", { class: "group-console", id: `group-console-${this.roomId}`, attrs: { "aria-labelledby": `gc-title-${this.roomId}` }, hidden: true });
    chat.headerExtras.append(this.handButton, this.consoleButton);
    chat.composer.before(this.muteNotice);
    chat.scroller.after(this.floorNotice);
    chat.scroller.before(this.console);
    this.app.conn.on("group:action", this.onAction = (event) => {
      if (event.room_id !== this.roomId) return;
      this.update(event.group);
      if (event.action === "hand.call") this.showFloor(event.target_id);
    });
    this.load();
  }

  destroy() {
    this.app.conn.socket.off("group:action", this.onAction);
  }

  async load() {
    try {
      this.update((await this.app.conn.call("group:state", { room_id: this.roomId })).group);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  showFloor(userId) {
    const mine = userId === this.app.me.id;
    this.floorNotice.hidden = false;
    this.floorNotice.textContent = mine ? t("group.you_have_floor") : t("group.has_floor", { name: this.name(userId) });
    if (mine) this.app.announce(this.floorNotice.textContent);
  }

  get myRole() {
    return this.group?.members.find((m) => m.user_id === this.app.me.id)?.role ?? "member";
  }

  update(group) {
    this.group = group;
    const me = group.members.find((m) => m.user_id === this.app.me.id);
    const raised = group.hands.some((h) => h.user_id === this.app.me.id);
    this.handButton.textContent = t(raised ? "group.lower_hand" : "group.raise_hand");
    this.handButton.setAttribute("aria-pressed", String(raised));
    this.muteNotice.hidden = !me?.muted_until;
    this.muteNotice.textContent = me?.muted_until ? t("group.you_are_muted") : "";
    this.chat.input.disabled = Boolean(me?.muted_until);
    this.consoleButton.hidden = !MODERATORS.has(this.myRole);
    // A leader gives the floor; they do not queue for it.
    this.handButton.hidden = MODERATORS.has(this.myRole);
    if (!MODERATORS.has(this.myRole)) this.console.hidden = true;
    if (!this.console.hidden) this.renderConsole();
  }

  async act(event, payload) {
    this.error.textContent = "";
    try {
      const reply = await this.app.conn.call(event, { room_id: this.roomId, ...payload });
      if (reply.group) this.update(reply.group);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  toggleHand() {
    const raised = this.group?.hands.some((h) => h.user_id === this.app.me.id);
    this.act(raised ? "hand:lower" : "hand:raise", {});
  }

  toggleConsole() {
    this.console.hidden = !this.console.hidden;
    this.consoleButton.setAttribute("aria-expanded", String(!this.console.hidden));
    if (!this.console.hidden) {
      this.renderConsole();
      this.console.querySelector("h2")?.focus();
    }
  }

  name(userId) {
    return this.chat.store.memberName(this.roomId, userId) || t("chat.someone");
  }

  /** Removing someone is not undone by a tap: the leader confirms it in words, or cancels. */
  confirmRemove(userId, button) {
    const row = button.parentNode;
    const original = [...row.childNodes];
    const no = el("button", { type: "button", class: "small", i18n: "chat.cancel", on: { click: () => { show(row, ...original); button.focus(); } } });
    const yes = el("button", { type: "button", class: "small danger", text: t("group.confirm_remove", { name: this.name(userId) }), on: { click: () => this.act("group:remove", { user_id: userId }) } });
    show(row, el("span", { text: t("group.remove_question", { name: this.name(userId) }) }), yes, no);
    no.focus();
  }

  renderConsole() {
    const g = this.group;
    if (!g) return;
    const others = g.members.filter((m) => m.user_id !== this.app.me.id);
    const members = el("ul", { class: "gc-members" }, ...others.map((m) => el("li", { dataset: { userId: m.user_id } },
      el("span", { class: "gc-name", text: this.name(m.user_id) }),
      m.role !== "member" ? el("span", { class: "badge", text: t(`room_role.${m.role}`) }) : null,
      m.muted_until ? el("span", { class: "badge", i18n: "group.muted" }) : null,
      el("span", { class: "row" },
        m.muted_until
          ? el("button", { type: "button", class: "small", text: t("group.unmute_name", { name: this.name(m.user_id) }), on: { click: () => this.act("group:unmute", { user_id: m.user_id }) } })
          : el("button", { type: "button", class: "small", text: t("group.mute_name", { name: this.name(m.user_id) }), on: { click: () => this.act("group:mute", { user_id: m.user_id }) } }),
        el("button", { type: "button", class: "small danger", text: t("group.remove_name", { name: this.name(m.user_id) }), on: { click: (e) => this.confirmRemove(m.user_id, e.currentTarget) } })))));
    const hands = el("ol", { class: "gc-hands" }, ...g.hands.map((h) => el("li", { text: this.name(h.user_id) })));
    const agendaInput = el("textarea", { id: `agenda-${this.roomId}`, rows: 3, value: g.agenda.items.join("\n") });
    const handoverSelect = el("select", { id: `handover-${this.roomId}` }, ...others.map((m) => el("option", { value: m.user_id, text: this.name(m.user_id) })));
    show(this.console,
      el("h2", { id: `gc-title-${this.roomId}`, tabIndex: -1, i18n: "group.console" }),
      this.error,
      el("h3", { i18n: "group.members" }), members,
      inviteForm(this.app, this.roomId),
      el("h3", { i18n: "group.hands" }), g.hands.length ? hands : el("p", { class: "empty", i18n: "group.no_hands" }),
      el("button", { type: "button", i18n: "group.call_next", disabled: !g.hands.length, on: { click: () => this.act("hand:next", {}) } }),
      el("h3", { i18n: "group.room" }),
      el("button", { type: "button", i18n: g.locked ? "group.unlock" : "group.lock", attrs: { "aria-pressed": String(g.locked) }, on: { click: () => this.act("group:lock", { locked: !g.locked }) } }),
      el("h3", { i18n: "group.agenda" }),
      g.agenda.current !== null && g.agenda.items.length ? el("p", { text: t("group.agenda_now", { item: g.agenda.items[g.agenda.current] ?? "" }) }) : null,
      el("label", { htmlFor: agendaInput.id, i18n: "group.agenda_label" }), agendaInput,
      el("div", { class: "row" },
        el("button", { type: "button", i18n: "group.agenda_save", on: { click: () => this.act("agenda:set", { items: agendaInput.value.split("\n").map((s) => s.trim()).filter(Boolean) }) } }),
        el("button", { type: "button", i18n: "group.agenda_next", disabled: !g.agenda.items.length, on: { click: () => this.act("agenda:next", {}) } })),
      others.length ? el("h3", { i18n: "group.handover" }) : null,
      others.length ? el("div", { class: "row" },
        el("label", { htmlFor: handoverSelect.id, i18n: "group.handover_to" }), handoverSelect,
        el("button", { type: "button", i18n: "group.handover_session", on: { click: () => this.act("group:handover", { user_id: handoverSelect.value, for_session: true }) } })) : null);
  }
}
