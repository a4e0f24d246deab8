// The writer's safety plan (after the Stanley–Brown safety-planning intervention): warning signs,
// coping steps, people and places, professionals to call, making the surroundings safe, and an
// emergency contact. The writer edits it from "Get help now" (safety_plan:get / safety_plan:set on
// "/"); the crisis card shows it back to them, and the responder console shows it read-only with
// the same view (crisis:safety_plan), so both sides read one layout.
import { el, field, show } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./chat.js";

// The protocol's limits (docs/protocol.md): the server refuses more, the form says so first.
export const PLAN_MAX_ITEMS = 10;
export const PLAN_MAX_CHARS = 300;
export const LIST_FIELDS = ["warning_signs", "coping", "people_places", "environment"];
const PROFESSIONAL_ROWS_AT_START = 2;

function telHref(number) {
  return `tel:${String(number).replace(/[^0-9+]/g, "")}`;
}

function contactLine({ name, phone }) {
  return el("li", {}, el("span", { text: name }), phone ? [" ", el("a", { href: telHref(phone), text: t("help.call", { number: phone }) })] : null);
}

/** A read-only plan: only the parts the writer filled in, professionals and contact callable. */
export function safetyPlanView(plan) {
  if (!plan) return el("p", { class: "hint", i18n: "plan.none" });
  const sections = [];
  const section = (key, items) => sections.push(el("section", { class: "plan-part" }, el("h4", { i18n: `plan.${key}` }), el("ul", {}, items)));
  for (const key of ["warning_signs", "coping", "people_places"]) {
    if (plan[key]?.length) section(key, plan[key].map((item) => el("li", { text: item, attrs: { dir: "auto" } })));
  }
  if (plan.professionals?.length) section("professionals", plan.professionals.map(contactLine));
  if (plan.environment?.length) section("environment", plan.environment.map((item) => el("li", { text: item, attrs: { dir: "auto" } })));
  if (plan.emergency_contact?.name) section("emergency_contact", [contactLine(plan.emergency_contact)]);
  return sections.length ? el("div", { class: "safety-plan" }, sections) : el("p", { class: "hint", i18n: "plan.none" });
}

/** Lines of a textarea as a plan list: trimmed, blank lines dropped. */
function linesOf(textarea) {
  return textarea.value.split("\n").map((line) => line.trim()).filter(Boolean);
}

/** The editor shown inside the "Get help now" dialog; `onDone` returns to the help lines. */
export class SafetyPlanEditor {
  constructor(conn, onDone) {
    this.conn = conn;
    this.onDone = onDone;
    this.lists = Object.fromEntries(LIST_FIELDS.map((key) => [key, el("textarea", { rows: 3, attrs: { "aria-describedby": "plan-lines-hint" } })]));
    this.professionals = el("div", { class: "plan-professionals" });
    this.contactName = el("input", { type: "text", maxLength: PLAN_MAX_CHARS, autocomplete: "off" });
    this.contactPhone = el("input", { type: "tel", maxLength: 40, autocomplete: "off" });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    const addProfessional = el("button", { type: "button", class: "small", i18n: "plan.add_professional", on: { click: () => this.addProfessionalRow({}, true) } });
    this.root = el("form", { class: "plan-editor stack", on: { submit: (e) => this.save(e) } },
      el("h3", { id: "plan-title", i18n: "plan.title", tabIndex: -1 }),
      el("p", { class: "hint", i18n: "plan.lead" }),
      el("p", { class: "hint", id: "plan-lines-hint", i18n: "plan.one_per_line" }),
      ...["warning_signs", "coping", "people_places"].map((key) => field(`plan.${key}`, this.lists[key])),
      el("fieldset", {}, el("legend", { i18n: "plan.professionals" }), this.professionals, addProfessional),
      field("plan.environment", this.lists.environment),
      el("fieldset", {}, el("legend", { i18n: "plan.emergency_contact" }), field("plan.name", this.contactName), field("plan.phone", this.contactPhone)),
      el("div", { class: "row" },
        el("button", { type: "submit", class: "primary", i18n: "plan.save" }),
        el("button", { type: "button", i18n: "plan.back", on: { click: () => this.onDone() } })),
      this.status, this.error);
  }

  addProfessionalRow({ name = "", phone = "" }, focus = false) {
    const rows = this.professionals.children.length;
    if (rows >= PLAN_MAX_ITEMS) return;
    const n = rows + 1;
    const nameInput = el("input", { type: "text", value: name, maxLength: PLAN_MAX_CHARS, autocomplete: "off", attrs: { "aria-label": t("plan.professional_name", { n }) } });
    const phoneInput = el("input", { type: "tel", value: phone, maxLength: 40, autocomplete: "off", attrs: { "aria-label": t("plan.professional_phone", { n }) } });
    this.professionals.append(el("div", { class: "row plan-professional" }, nameInput, phoneInput));
    if (focus) nameInput.focus();
  }

  /** Fill the form with the saved plan (or leave it blank for a first plan). */
  async load() {
    const { plan } = await this.conn.call("safety_plan:get", {});
    for (const key of LIST_FIELDS) this.lists[key].value = (plan?.[key] || []).join("\n");
    show(this.professionals);
    for (const person of plan?.professionals || []) this.addProfessionalRow(person);
    while (this.professionals.children.length < PROFESSIONAL_ROWS_AT_START) this.addProfessionalRow({});
    this.contactName.value = plan?.emergency_contact?.name || "";
    this.contactPhone.value = plan?.emergency_contact?.phone || "";
  }

  plan() {
    const plan = Object.fromEntries(LIST_FIELDS.map((key) => [key, linesOf(this.lists[key])]));
    plan.professionals = [...this.professionals.children]
      .map((row) => { const [name, phone] = row.querySelectorAll("input"); return { name: name.value.trim(), phone: phone.value.trim() }; })
      .filter((person) => person.name || person.phone);
    const name = this.contactName.value.trim();
    const phone = this.contactPhone.value.trim();
    plan.emergency_contact = name || phone ? { name, phone } : null;
    return plan;
  }

  async save(event) {
    event.preventDefault();
    this.status.textContent = "";
    this.error.textContent = "";
    const plan = this.plan();
    if (LIST_FIELDS.some((key) => plan[key].length > PLAN_MAX_ITEMS || plan[key].some((item) => item.length > PLAN_MAX_CHARS))) {
      this.error.textContent = t("plan.too_long");
      return;
    }
    try {
      await this.conn.call("safety_plan:set", { plan });
      this.status.textContent = t("plan.saved");
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
