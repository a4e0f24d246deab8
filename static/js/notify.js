// Telling a person about messages they are not looking at: a count in the tab's title and, when
// they allowed it, a browser notification. Permission is asked once, right after the person sends
// their first message (when being told about the answer is plainly useful), never on page load.
// A notification names the sender but never carries the words: a lock screen is not private.
import { t } from "./i18n.js";

const ASKED_KEY = "mv.notifications.asked";

export class Notifier {
  /** @param {object} app {store, me}; app.openRoomId() says which conversation is on screen. */
  constructor(app) {
    this.app = app;
    this.baseTitle = document.title;
    this.unseen = new Map(); // room id -> messages arrived while it was not on screen
    app.store.addEventListener("incoming", ({ detail }) => this.onIncoming(detail));
    document.addEventListener("visibilitychange", this.onVisible = () => {
      if (!document.hidden) this.seen(this.app.openRoomId());
    });
  }

  destroy() {
    document.removeEventListener("visibilitychange", this.onVisible);
    document.title = this.baseTitle;
  }

  /** Is this conversation in front of the reader right now? */
  looking(roomId) {
    return !document.hidden && this.app.openRoomId() === roomId;
  }

  onIncoming({ roomId, message }) {
    if (this.looking(roomId) || message.kind === "system") return;
    this.unseen.set(roomId, (this.unseen.get(roomId) ?? 0) + 1);
    this.renderTitle();
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    const room = this.app.store.rooms.get(roomId);
    const name = this.app.store.memberName(roomId, message.sender_id) || t("chat.someone");
    const notice = new Notification(t("notify.title", { name }), {
      body: room?.kind === "group" ? t("notify.in_group", { title: this.app.store.title(room) }) : t("notify.body"),
      tag: roomId,
    });
    notice.onclick = () => {
      window.focus();
      this.app.openConversation(roomId);
      notice.close();
    };
  }

  /** The reader opened (or came back to) this conversation. */
  seen(roomId) {
    if (!roomId || !this.unseen.delete(roomId)) return;
    this.renderTitle();
  }

  renderTitle() {
    const count = [...this.unseen.values()].reduce((a, b) => a + b, 0);
    document.title = count ? t("notify.tab_title", { count, title: this.baseTitle }) : this.baseTitle;
  }

  /** After the person's own first message: ask once whether they want to be told of answers. */
  async askOnce() {
    if (typeof Notification === "undefined" || Notification.permission !== "default") return;
    if (localStorage.getItem(ASKED_KEY)) return;
    localStorage.setItem(ASKED_KEY, "1");
    await Notification.requestPermission().catch(() => {});
  }
}
