// Language settings: the interface language (also the saved `locale`, which is the language the
// server's own words and translated chat arrive in), the languages the person reads as written,
// and whether messages in other languages are translated for them (profile:get / profile:update).
import { el, show } from "./dom.js";
import { LANGUAGES, currentLanguage, onLanguageChange, setLanguage, t } from "./i18n.js";
import { errorText } from "./chat.js";

// Languages offered under "Languages I read" (ISO 639-1); the server accepts any ISO 639 code.
const READABLE_LANGUAGES = ["en", "es", "fr", "pt", "de", "it", "ar", "zh", "hi", "ru", "uk", "tl", "vi", "ko", "ja"];

export class SettingsView {
  /** @param {object} app {conn, me} */
  constructor(app) {
    this.app = app;
    this.closed = false;
    this.uiLanguage = el("select", { id: "settings-ui-language" });
    this.reading = el("div", { class: "language-choices" });
    this.translate = el("input", { type: "checkbox", id: "settings-translate", attrs: { "aria-describedby": "settings-translate-hint" } });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    // Once the person starts editing, late answers (profile:get, profile:updated) must not
    // overwrite their unsaved choices.
    this.editing = false;
    this.form = el("form", { class: "settings-form stack", on: { submit: (e) => this.save(e), change: () => { this.editing = true; } } },
      el("div", { class: "field" }, el("label", { htmlFor: this.uiLanguage.id, i18n: "settings.ui_language" }), this.uiLanguage),
      el("fieldset", { class: "reading" },
        el("legend", { i18n: "settings.languages_i_read" }),
        el("p", { class: "hint", i18n: "settings.languages_hint" }),
        this.reading),
      el("div", { class: "toggle" }, this.translate, el("label", { htmlFor: this.translate.id, i18n: "settings.translate_messages" })),
      el("p", { class: "hint", id: "settings-translate-hint", i18n: "settings.translate_hint" }),
      el("button", { type: "submit", class: "primary", i18n: "settings.save" }),
      this.status, this.error);
    this.root = el("section", { class: "settings", attrs: { "aria-labelledby": "settings-title" } },
      el("h2", { id: "settings-title", i18n: "settings.title" }), this.form);
    onLanguageChange(() => !this.closed && this.render());
    app.conn.on("profile:updated", ({ user }) => !this.closed && !this.editing && this.render(user));
    this.render(app.me);
    this.load();
  }

  destroy() {
    this.closed = true;
  }

  async load() {
    try {
      const { user } = await this.app.conn.call("profile:get");
      if (!this.editing) this.render(user);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  render(user = this.user) {
    this.user = user;
    const names = new Intl.DisplayNames([currentLanguage()], { type: "language" });
    show(this.uiLanguage, ...LANGUAGES.map((lang) => el("option", { value: lang, text: new Intl.DisplayNames([lang], { type: "language" }).of(lang) })));
    this.uiLanguage.value = currentLanguage();
    const chosen = new Set(user.languages || []);
    const offered = [...new Set([...READABLE_LANGUAGES, ...chosen])];
    show(this.reading, ...offered.map((code) => {
      const box = el("input", { type: "checkbox", id: `reads-${code}`, value: code, checked: chosen.has(code) });
      return el("div", { class: "toggle" }, box, el("label", { htmlFor: box.id, text: names.of(code) }));
    }));
    this.translate.checked = Boolean(user.translate_messages);
  }

  async save(event) {
    event.preventDefault();
    this.status.textContent = "";
    this.error.textContent = "";
    const locale = this.uiLanguage.value;
    const languages = [...this.reading.querySelectorAll("input:checked")].map((box) => box.value);
    try {
      const { user } = await this.app.conn.call("profile:update", { locale, languages, translate_messages: this.translate.checked });
      Object.assign(this.app.me, user);
      this.editing = false;
      if (locale !== currentLanguage()) await setLanguage(locale);
      this.render(user);
      this.status.textContent = t("settings.saved");
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}

/**
 * Keep the saved locale in step with the interface language picked in the top bar, so the
 * server's words and translated messages come in the language the person is reading.
 * Returns a function that stops following.
 */
export function followInterfaceLanguage(app) {
  let following = true;
  onLanguageChange((lang) => {
    if (!following || String(app.me.locale || "").slice(0, 2) === lang) return;
    app.conn.call("profile:update", { locale: lang })
      .then(({ user }) => Object.assign(app.me, user))
      .catch(() => {});
  });
  return () => { following = false; };
}
