// What a private room shows above its conversation: the badge, what changes in a private room,
// the room's consent switch for the on-device safety check, and the safety numbers to compare.
import { el, show } from "../dom.js";
import { t } from "../i18n.js";
import { errorText } from "../chat.js";
import { loadDetector } from "../crisis/detector.js";

export class PrivateRoomPanel {
  constructor(app, chat) {
    this.app = app;
    this.chat = chat;
    this.roomId = chat.roomId;
    this.consent = el("input", { type: "checkbox", id: `consent-${this.roomId}`, on: { change: () => this.setConsent(this.consent.checked) } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.numbers = el("div", { class: "safety-numbers", attrs: { "aria-live": "polite" }, hidden: true });
    const explain = el("details", { class: "private-explain" },
      el("summary", { i18n: "private.what_changes" }),
      el("ul", {},
        el("li", { i18n: "private.stores_ciphertext" }),
        el("li", { i18n: "private.no_translation" }),
        el("li", { i18n: "private.device_safety" }),
        el("li", { i18n: "private.new_devices" }),
        el("li", { i18n: "private.no_files" })));
    this.root = el("section", { class: "private-room", attrs: { "aria-label": t("private.badge") } },
      el("p", {}, el("span", { class: "badge private", i18n: "private.badge" })),
      explain,
      el("div", { class: "consent" }, this.consent, el("label", { htmlFor: this.consent.id, i18n: "private.consent_label" })),
      el("button", { type: "button", class: "small", i18n: "private.compare_numbers", on: { click: () => this.showNumbers() } }),
      this.numbers,
      this.error);
    chat.safetyNode.before(this.root);
    chat.root.classList.add("is-private");
    this.sync();
    app.store.addEventListener("rooms", () => this.sync(), { signal: chat.abort.signal });
    app.privateRooms.ready().catch(() => {});
    // The detector's data is a few MB: fetched while the person reads, not when they send.
    if (chat.room.safety_monitoring) loadDetector().catch(() => {});
  }

  sync() {
    const room = this.app.store.rooms.get(this.roomId);
    if (room) this.consent.checked = Boolean(room.safety_monitoring);
  }

  async setConsent(on) {
    this.error.textContent = "";
    try {
      const { room } = await this.app.conn.call("room:safety_monitoring", { room_id: this.roomId, on });
      this.app.store.upsertRoom(room);
      this.chat.renderSafety();
    } catch (error) {
      this.error.textContent = errorText(error);
      this.sync();
    }
  }

  async showNumbers() {
    this.error.textContent = "";
    const room = this.app.store.rooms.get(this.roomId);
    const others = room.members.filter((m) => m.id !== this.app.me.id);
    try {
      const rows = [el("p", { class: "hint", i18n: "private.numbers_hint" })];
      for (const member of others) {
        const numbers = await this.app.privateRooms.safetyNumbers(this.roomId, member.id);
        const name = member.display_name || member.username;
        if (!numbers.length) rows.push(el("p", { text: t("private.no_device", { name }) }));
        for (const { digits } of numbers) {
          rows.push(el("p", { class: "safety-number" }, el("span", { class: "who", text: name }), " ", el("code", { text: digits.join(" ") })));
        }
      }
      show(this.numbers, ...rows);
      this.numbers.hidden = false;
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
