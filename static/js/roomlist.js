// The list of the user's conversations, with unread counts and the peer's presence, and the
// form that starts a direct conversation by username.
import { el, field, formatTime, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";

export class RoomList {
  /** @param {object} app {store, onOpen(roomId)} */
  constructor(app) {
    this.app = app;
    this.store = app.store;
    this.current = null;
    this.list = el("ul", { class: "room-list" });
    this.empty = el("p", { class: "empty", i18n: "rooms.empty" });
    const input = el("input", { type: "text", name: "username", autocomplete: "off", autocapitalize: "none", spellcheck: false, required: true });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.private = el("input", { type: "checkbox", id: "new-room-private", name: "private" });
    this.form = el("form", { class: "new-room", on: { submit: (e) => this.startConversation(e, input) } },
      field("rooms.start_with", input),
      el("div", { class: "checkbox-field" }, this.private, el("label", { htmlFor: "new-room-private", i18n: "private.create_label" })),
      el("button", { type: "submit", i18n: "rooms.start" }),
      this.error);
    this.root = el("nav", { class: "rooms", attrs: { "aria-labelledby": "rooms-title" } },
      el("h2", { id: "rooms-title", i18n: "rooms.title" }), this.list, this.empty, this.form);
    for (const type of ["rooms", "presence"]) this.store.addEventListener(type, () => this.render());
    onLanguageChange(() => this.render());
  }

  select(roomId) {
    this.current = roomId;
    this.render();
  }

  render() {
    const focused = document.activeElement?.closest?.(".room-item")?.dataset.roomId;
    const rooms = [...this.store.rooms.values()];
    this.empty.hidden = rooms.length > 0;
    show(this.list, ...rooms.map((room) => {
      const unread = room.id === this.current ? 0 : this.store.unread(room);
      const peer = this.store.peer(room);
      const online = peer && this.store.isOnline(room.id, peer.id);
      const button = el("button", {
        type: "button", class: "room-item", dataset: { roomId: room.id },
        attrs: { "aria-current": room.id === this.current ? "true" : null },
        on: { click: () => this.app.onOpen(room.id) },
      },
      peer ? el("span", { class: `dot${online ? " online" : ""}`, attrs: { "aria-hidden": "true" } }) : el("span", { class: "group-mark", attrs: { "aria-hidden": "true" }, text: "#" }),
      el("span", { class: "room-text" },
        el("span", { class: "room-title", text: this.store.title(room) }),
        this.preview(room)),
      room.private ? el("span", { class: "badge private", i18n: "private.badge_short" }) : null,
      this.when(room),
      peer ? el("span", { class: "visually-hidden", i18n: online ? "presence.online" : "presence.offline" }) : null,
      unread ? el("span", { class: "unread", text: t("rooms.unread", { count: unread }) }) : null);
      return el("li", {}, button);
    }));
    if (focused) this.list.querySelector(`[data-room-id="${CSS.escape(focused)}"]`)?.focus();
  }

  /** "You: see you then" / "Mo: thanks": the newest message in one line. */
  preview(room) {
    const last = this.store.previews.get(room.id);
    if (!last) return null;
    const who = last.sender_id === this.app.me.id ? t("chat.you") : this.store.memberName(room.id, last.sender_id) || t("chat.someone");
    const text = last.deleted ? t("chat.deleted") : last.sealed ? t("private.preview") : last.kind === "call" ? t("rooms.preview_call")
      : (last.kind ?? "text") === "text" ? last.excerpt : t("rooms.preview_file");
    return el("span", { class: "room-preview", text: t("rooms.preview", { name: who, text }) });
  }

  when(room) {
    const last = this.store.previews.get(room.id);
    if (!last) return null;
    const today = new Date().toDateString() === new Date(last.created_at).toDateString();
    const text = today ? formatTime(last.created_at, currentLanguage()) : formatTime(last.created_at, currentLanguage(), { day: "numeric", month: "short" });
    return el("time", { class: "room-when", dateTime: last.created_at, text });
  }

  async startConversation(event, input) {
    event.preventDefault();
    this.error.textContent = "";
    const username = input.value.trim().toLowerCase();
    if (!username) return;
    try {
      const room = await this.store.directRoomWith(username, { private: this.private.checked });
      input.value = "";
      this.private.checked = false;
      this.app.onOpen(room.id);
    } catch (error) {
      this.error.textContent = error.code === "not_found" ? t("rooms.no_such_user") : errorText(error);
    }
  }
}
