// Translated chat (docs/protocol.md, "Languages"): a message written in a language the reader
// does not read arrives first as the original (message:new), then as message:translated in the
// reader's language. We show the translation with its caption ("Translated from English") and
// keep the original one tap away; when the server has no package for the pair, the original
// stays and the caption says so. History is fetched with `translate_to` so older messages read
// the same way.
import { el } from "./dom.js";
import { t } from "./i18n.js";

export class Translations {
  /** @param {object} app {conn, store, me, decorators} */
  constructor(app) {
    this.app = app;
    this.live = new Map(); // message id -> translation that arrived live
    this.sources = new WeakMap(); // translation -> the body it translates (an edit makes it stale)
    this.showingOriginal = new Set(); // message ids the reader switched back to the original
    app.conn.on("message:translated", (event) => this.receive(event));
    app.conn.on("profile:updated", ({ user }) => this.setProfile(user));
    app.decorators.push((message, node, view) => this.decorate(message, node, view));
    app.store.historyOptions = () => this.historyOptions();
    // The language a message is written in is not always the interface's: the server recognises
    // it from the text (and trusts the writer's saved locale for very short messages).
    app.messageLanguage = () => "";
  }

  setProfile(user) {
    Object.assign(this.app.me, user);
  }

  get profile() {
    return this.app.me;
  }

  get readerLanguage() {
    return String(this.profile.locale || "en").slice(0, 2).toLowerCase();
  }

  /** Languages this reader reads as written: their list plus their locale's language. */
  reads(language) {
    return language === this.readerLanguage || (this.profile.languages || []).includes(language);
  }

  historyOptions() {
    return this.profile.translate_messages ? { translate_to: this.readerLanguage } : {};
  }

  receive({ room_id, message_id, language, text, translated, note, caption }) {
    const translation = { language, text, translated, note, caption };
    this.live.set(message_id, translation);
    const known = this.app.store.timelines.get(room_id)?.byId.get(message_id);
    if (known) {
      this.sources.set(translation, known.body);
      this.app.store.mergeInto(room_id, [{ ...known, translation }]);
    }
  }

  translationOf(message) {
    const translation = message.translation ?? this.live.get(message.id);
    if (!translation || message.deleted || message.sender_id === this.app.me.id) return null;
    if (!translation.translated && !translation.note) return null;
    // History translates into the reader's language even what they also read: leave that as written.
    if (message.language && this.reads(message.language)) return null;
    if (!this.sources.has(translation)) this.sources.set(translation, message.body);
    return this.sources.get(translation) === message.body ? translation : null;
  }

  /** The caption; "no translation" in the interface's current language (not the one it arrived in). */
  caption(translation) {
    return translation.translated ? translation.caption || t("translation.translated") : t("translation.unavailable");
  }

  /** Someone writes in a language this reader does not read and they have not asked for translations. */
  offer(message, body, view) {
    if (this.profile.translate_messages || message.deleted || message.sender_id === this.app.me.id) return;
    if (!message.language || this.reads(message.language) || (message.kind ?? "text") !== "text") return;
    body.after(el("p", { class: "msg-translation offer" }, el("button", {
      type: "button", class: "link-button", i18n: "translation.offer",
      on: {
        click: async () => {
          const { user } = await this.app.conn.call("profile:update", { translate_messages: true });
          this.setProfile(user);
          await this.app.store.reloadNewest(view.roomId);
          view.rerenderAll();
        },
      },
    })));
  }

  decorate(message, node, view) {
    const translation = this.translationOf(message);
    const body = node.querySelector(".msg-body");
    if (body && !translation) this.offer(message, body, view);
    if (!translation || !body) return;
    const original = this.showingOriginal.has(message.id) || !translation.translated;
    if (!original) {
      body.textContent = translation.text;
      body.lang = translation.language;
    }
    node.classList.add(original ? "showing-original" : "translated");
    const caption = translation.translated && original
      ? t("translation.original_of", { caption: this.caption(translation) })
      : this.caption(translation);
    const note = el("p", { class: `msg-translation${translation.note ? " note" : ""}` }, el("span", { text: caption }));
    if (translation.translated) {
      note.append(" ", el("button", {
        type: "button", class: "link-button translation-toggle",
        i18n: original ? "translation.show_translation" : "translation.show_original",
        on: { click: () => this.toggle(message, view) },
      }));
    }
    body.after(note);
  }

  toggle(message, view) {
    if (this.showingOriginal.has(message.id)) this.showingOriginal.delete(message.id);
    else this.showingOriginal.add(message.id);
    const node = view.nodes.get(message.id);
    const fresh = view.renderMessage(view.timeline.byId.get(message.id) ?? message);
    node?.replaceWith(fresh);
    view.renderReceipts();
    fresh.querySelector(".translation-toggle")?.focus();
  }
}
