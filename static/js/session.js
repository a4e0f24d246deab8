// Sign-in and registration. A successful sign-in keeps the token for this tab only
// (sessionStorage): a shared or family computer forgets it when the tab closes.
import * as api from "./api.js";
import { el, field, show } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";
import { errorText } from "./chat.js";

const TOKEN_KEY = "mv.token";

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Render the sign-in page into container; resolves with {token, user} once signed in. */
export function signIn(container) {
  return new Promise((resolve) => {
    const done = (data) => {
      sessionStorage.setItem(TOKEN_KEY, data.token);
      resolve({ token: data.token, user: data.user });
    };
    const signInPanel = signInForm(done);
    const registerPanel = registerForm(done);
    const tabs = el("div", { class: "tabs", attrs: { role: "tablist" } });
    const panels = [["session.sign_in", signInPanel], ["session.register", registerPanel]];
    const buttons = panels.map(([key, panel], index) => {
      panel.id = `session-panel-${index}`;
      panel.setAttribute("role", "tabpanel");
      const button = el("button", {
        type: "button", id: `session-tab-${index}`, i18n: key,
        attrs: { role: "tab", "aria-controls": panel.id },
        on: { click: () => choose(index), keydown: (e) => onArrow(e, index) },
      });
      panel.setAttribute("aria-labelledby", button.id);
      tabs.append(button);
      return button;
    });
    function choose(index) {
      buttons.forEach((b, i) => {
        b.setAttribute("aria-selected", String(i === index));
        b.tabIndex = i === index ? 0 : -1;
        panels[i][1].hidden = i !== index;
      });
    }
    function onArrow(event, index) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const next = (index + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length;
      choose(next);
      buttons[next].focus();
    }
    choose(0);
    show(container, el("section", { class: "session card", attrs: { "aria-labelledby": "session-heading" } },
      el("h2", { id: "session-heading", i18n: "session.welcome" }),
      el("p", { class: "lead", i18n: "session.lead" }),
      tabs, signInPanel, registerPanel));
    signInPanel.querySelector("input").focus();
  });
}

function signInForm(done) {
  const username = el("input", { name: "username", autocomplete: "username", autocapitalize: "none", required: true });
  const password = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = el("p", { class: "form-error", attrs: { role: "alert" } });
  return el("form", {
    class: "stack",
    on: {
      submit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          done(await api.login(username.value.trim().toLowerCase(), password.value));
        } catch (err) {
          error.textContent = err.code === "unauthorized" ? t("session.wrong_password") : errorText(err);
        }
      },
    },
  }, field("session.username", username), field("session.password", password),
  el("button", { type: "submit", class: "primary", i18n: "session.sign_in" }), error);
}

function registerForm(done) {
  const username = el("input", { name: "new-username", autocomplete: "username", autocapitalize: "none", required: true, minLength: 3, maxLength: 32, pattern: "[a-z0-9][a-z0-9_.\\-]{2,31}", attrs: { "aria-describedby": "username-hint" } });
  const displayName = el("input", { name: "display-name", autocomplete: "nickname", required: true, maxLength: 100 });
  const password = el("input", { name: "new-password", type: "password", autocomplete: "new-password", required: true, minLength: 10, attrs: { "aria-describedby": "password-hint" } });
  const role = el("select", { name: "role" },
    el("option", { value: "mentee", i18n: "role.mentee" }),
    el("option", { value: "mentor", i18n: "role.mentor" }));
  const country = el("input", { name: "country", autocomplete: "country", maxLength: 2, size: 3, attrs: { "aria-describedby": "country-hint" } });
  const error = el("p", { class: "form-error", attrs: { role: "alert" } });
  return el("form", {
    class: "stack",
    on: {
      submit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        const name = username.value.trim().toLowerCase();
        const profile = {
          username: name,
          password: password.value,
          display_name: displayName.value.trim(),
          role: role.value,
          locale: currentLanguage(),
          languages: [currentLanguage()],
          timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
        };
        if (country.value.trim()) profile.country = country.value.trim().toUpperCase();
        try {
          await api.register(profile);
          done(await api.login(name, password.value));
        } catch (err) {
          error.textContent = errorText(err);
        }
      },
    },
  },
  field("session.username", username), el("p", { class: "hint", id: "username-hint", i18n: "session.username_hint" }),
  field("session.display_name", displayName),
  field("session.password", password), el("p", { class: "hint", id: "password-hint", i18n: "session.password_hint" }),
  field("session.role", role),
  field("session.country", country), el("p", { class: "hint", id: "country-hint", i18n: "session.country_hint" }),
  el("button", { type: "submit", class: "primary", i18n: "session.create_account" }), error);
}
