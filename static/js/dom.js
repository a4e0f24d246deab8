// Building DOM nodes without ever parsing markup: every piece of text goes in as a text node,
// so nothing a user typed can become HTML or script (no innerHTML anywhere in this client).
import { t } from "./i18n.js";

/**
 * el("button", {class: "x", i18n: "chat.send", on: {click}}, child, "text", ...)
 * Props: class, text (plain text), i18n (catalog key, re-applied on language change),
 * i18nAttrs ({attr: key}), attrs ({name: value}), dataset, on ({event: handler}), and any
 * other key is set as a DOM property (e.g. type, value, disabled, hidden, id, htmlFor).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "i18n") {
      node.dataset.i18n = value;
      node.textContent = t(value);
    } else if (key === "i18nAttrs") {
      node.dataset.i18nAttrs = JSON.stringify(value);
      for (const [attr, k] of Object.entries(value)) node.setAttribute(attr, t(k));
    } else if (key === "attrs") {
      for (const [attr, v] of Object.entries(value)) if (v !== undefined && v !== null && v !== false) node.setAttribute(attr, String(v));
    } else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A labelled form field: <label for=id>text</label><input id=id ...>. */
export function field(labelKey, input) {
  input.id ||= `f-${Math.random().toString(36).slice(2, 9)}`;
  return el("div", { class: "field" }, el("label", { htmlFor: input.id, i18n: labelKey }), input);
}

/** Replace a node's children. */
export function show(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A short human time in the reader's locale and time zone. */
export function formatTime(iso, language, options = { hour: "2-digit", minute: "2-digit" }) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(language, options).format(date);
}

export function formatDateTime(iso, language) {
  return formatTime(iso, language, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}
