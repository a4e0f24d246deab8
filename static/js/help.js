// "Get help now": crisis lines for where the person is, reachable from every page (signed in or
// not), and the same lines shown gently when a message of theirs triggered `crisis:resources`.
// What the person reads is only what helps them now: the lines to call (the interface's words
// from the catalogs, the server's sentence already in their language), then their own safety plan.
// How each number was checked is for responders and the data file, never for this card.
import { el, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { SafetyPlanEditor, safetyPlanView } from "./safetyplan.js";

let profile = { country: "" };
let session = null; // the signed-in main-namespace Connection, for the safety plan

/** Remember where the signed-in person is and their connection (both null when signed out). */
export function setHelpProfile(user, conn = null) {
  profile = { country: user?.country || "" };
  session = user ? conn : null;
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

function digits(number) {
  return number.replace(/[^0-9+]/g, "");
}

/** One renderer for the HTTP answer and the crisis:resources event (same shape). */
export function resourcesView(data) {
  const items = (data.hotlines || []).map((line) => {
    const contacts = el("ul", { class: "contacts" });
    for (const number of line.phone || []) contacts.append(el("li", {}, el("a", { href: `tel:${digits(number)}`, text: t("help.call", { number }) })));
    for (const number of line.text || []) contacts.append(el("li", {}, el("a", { href: `sms:${digits(number)}`, text: t("help.text", { number }) })));
    const url = safeUrl(line.url);
    if (url) contacts.append(el("li", {}, el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: t("help.website") })));
    return el("li", { class: "hotline" },
      el("h3", { text: line.service }),
      line.hours ? el("p", { class: "hint hours", text: line.hours }) : null,
      contacts);
  });
  return el("div", { class: "resources" },
    data.message ? el("p", { class: "resources-message", text: data.message }) : null,
    data.emergency && !data.message ? el("p", { class: "resources-message", text: t("help.emergency", { number: data.emergency }) }) : null,
    el("p", { i18n: "help.lead" }),
    el("ul", { class: "hotlines" }, items));
}

export function installHelp() {
  const button = document.getElementById("help-button");
  const body = el("div", { class: "help-body" }, el("p", { i18n: "help.loading" }));
  const close = el("button", { type: "button", class: "primary", i18n: "help.close", on: { click: () => dialog.close() } });
  const planButton = el("button", { type: "button", i18n: "help.my_plan", on: { click: () => editPlan() } });
  const dialog = el("dialog", { class: "help-dialog", attrs: { "aria-labelledby": "help-title" } },
    el("h2", { id: "help-title", i18n: "help.title" }),
    body, el("div", { class: "row" }, close, planButton));
  document.body.append(dialog);
  async function open() {
    if (!dialog.open) dialog.showModal();
    planButton.hidden = !session;
    close.focus();
    try {
      show(body, resourcesView(await fetchLines()));
    } catch {
      show(body, el("p", { i18n: "help.offline" }));
    }
  }
  async function editPlan() {
    const editor = new SafetyPlanEditor(session, () => { open(); planButton.focus(); });
    planButton.hidden = true;
    // The form appears once it holds the saved plan, so nothing typed is overwritten by the load.
    show(body, el("p", { i18n: "plan.loading" }));
    try {
      await editor.load();
    } catch {
      show(body, el("p", { i18n: "help.offline" }));
      return;
    }
    show(body, editor.root);
    editor.root.querySelector("textarea").focus();
  }
  button.addEventListener("click", open);
  dialog.addEventListener("close", () => button.focus());
  onLanguageChange(() => dialog.open && !body.querySelector(".plan-editor") && open());
  button.hidden = false;
}

/** Show the lines sent after a risky message: a calm card, not a modal that blocks the chat. */
export async function showCrisisResources(data) {
  const slot = document.getElementById("support-card");
  const dismiss = el("button", { type: "button", class: "small", i18n: "help.dismiss", on: { click: () => { slot.hidden = true; } } });
  // A responder who already reached out stays named when a later message brings the card back.
  const news = slot.querySelector(".support-news") || el("div", { class: "support-news", attrs: { role: "status" } });
  const plan = el("section", { class: "support-plan", hidden: true, attrs: { "aria-labelledby": "support-plan-title" } },
    el("h3", { id: "support-plan-title", i18n: "help.your_plan" }));
  show(slot, el("div", { class: "support-head" }, el("h2", { id: "support-title", i18n: "help.title" }), dismiss),
    news, resourcesView(data), plan);
  slot.hidden = false;
  // The plan is the writer's own, readable by them at any time: a card that does not say whether
  // one exists (has_safety_plan absent) still shows it when there is one.
  if (data.has_safety_plan === false || !session) return;
  const reply = await session.call("safety_plan:get", {}).catch(() => null);
  if (!reply?.plan) return;
  plan.append(safetyPlanView(reply.plan));
  plan.hidden = false;
}

/** A responder reached out: say so on the card (shown again if hidden) with one way into the room. */
export function showResponderJoined({ room_id: roomId, responder }, openRoom) {
  const slot = document.getElementById("support-card");
  let news = slot.querySelector(".support-news");
  if (!news) {
    const dismiss = el("button", { type: "button", class: "small", i18n: "help.dismiss", on: { click: () => { slot.hidden = true; } } });
    news = el("div", { class: "support-news", attrs: { role: "status" } });
    show(slot, el("div", { class: "support-head" }, el("h2", { id: "support-title", i18n: "help.title" }), dismiss), news);
  }
  show(news, el("p", { class: "resources-message", text: t("help.responder_joined", { name: responder.display_name }) }),
    el("button", { type: "button", class: "primary", i18n: "help.open_conversation", on: { click: () => openRoom(roomId) } }));
  slot.hidden = false;
}
