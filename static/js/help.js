// "Get help now": crisis lines for where the person is, reachable from every page (signed in or
// not), and the same lines shown gently when a message of theirs triggered `crisis:resources`.
import { el, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";

let profile = { country: "" };

/** Remember where the signed-in person is, so the lines are theirs (null when signed out). */
export function setHelpProfile(user) {
  profile = { country: user?.country || "" };
}

async function fetchLines() {
  const query = new URLSearchParams({ locale: currentLanguage() });
  if (profile.country) query.set("country", profile.country);
  const response = await fetch(`/api/help/lines?${query}`);
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

function safeUrl(url) {
  return /^https?:\/\//i.test(url || "") ? url : null;
}

/** One renderer for the HTTP answer and the crisis:resources event (same shape). */
export function resourcesView(data) {
  const items = (data.hotlines || []).map((line) => {
    const contacts = el("ul", { class: "contacts" });
    for (const number of line.phone || []) contacts.append(el("li", {}, el("a", { href: `tel:${number.replace(/[^0-9+]/g, "")}`, text: t("help.call", { number }) })));
    for (const number of line.text || []) contacts.append(el("li", {}, el("a", { href: `sms:${number.replace(/[^0-9+]/g, "")}`, text: t("help.text", { number }) })));
    const url = safeUrl(line.url);
    if (url) contacts.append(el("li", {}, el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: t("help.website") })));
    return el("li", { class: "hotline" },
      el("h3", { text: line.service }),
      line.notes ? el("p", { class: "hint", text: line.notes }) : null,
      contacts,
      line.verified ? null : el("p", { class: "unverified", i18n: "help.unverified" }));
  });
  return el("div", { class: "resources" },
    data.message ? el("p", { class: "resources-message", text: data.message }) : null,
    data.emergency && !data.message ? el("p", { class: "resources-message", text: t("help.emergency", { number: data.emergency }) }) : null,
    el("p", { text: data.hotlines_intro || "" }),
    el("ul", { class: "hotlines" }, items));
}

export function installHelp() {
  const button = document.getElementById("help-button");
  const body = el("div", { class: "help-body" }, el("p", { i18n: "help.loading" }));
  const close = el("button", { type: "button", class: "primary", i18n: "help.close", on: { click: () => dialog.close() } });
  const dialog = el("dialog", { class: "help-dialog", attrs: { "aria-labelledby": "help-title" } },
    el("h2", { id: "help-title", i18n: "help.title" }),
    el("p", { class: "lead", i18n: "help.lead" }),
    body, close);
  document.body.append(dialog);
  async function open() {
    dialog.showModal();
    close.focus();
    try {
      show(body, resourcesView(await fetchLines()));
    } catch {
      show(body, el("p", { i18n: "help.offline" }));
    }
  }
  button.addEventListener("click", open);
  dialog.addEventListener("close", () => button.focus());
  onLanguageChange(() => dialog.open && open());
  button.hidden = false;
}

/** Show the lines sent after a risky message: a calm card, not a modal that blocks the chat. */
export function showCrisisResources(data) {
  const slot = document.getElementById("support-card");
  const dismiss = el("button", { type: "button", class: "small", i18n: "help.dismiss", on: { click: () => { slot.hidden = true; } } });
  show(slot, el("h2", { id: "support-title", text: data.title || t("help.title") }), resourcesView(data), dismiss);
  slot.hidden = false;
}
