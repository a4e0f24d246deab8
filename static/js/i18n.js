// The interface's own words in the reader's language. Catalogs are flat JSON files under
// /static/i18n/<lang>.json; a missing key falls back to English, then to the key itself.
export const LANGUAGES = ["en", "es", "fr"];
const STORAGE_KEY = "mv.language";

let language = "en";
let catalog = {};
let fallback = {};
const listeners = new Set();

async function fetchCatalog(lang) {
  const response = await fetch(`/static/i18n/${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`catalog ${lang}: ${response.status}`);
  return response.json();
}

/** The language to start in: the one chosen before, else the browser's first supported one. */
export function preferredLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export async function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  if (!Object.keys(fallback).length) fallback = await fetchCatalog("en");
  catalog = lang === "en" ? fallback : await fetchCatalog(lang);
  language = lang;
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
  applyTranslations(document);
  for (const listener of listeners) listener(lang);
}

export function currentLanguage() {
  return language;
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** t("chat.typing_one", {name}) — placeholders in braces; values are inserted as plain text. */
export function t(key, params = {}) {
  const template = catalog[key] ?? fallback[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Re-translate every node marked by el({i18n}) or el({i18nAttrs}) under root. */
export function applyTranslations(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-attrs]")) {
    for (const [attr, key] of Object.entries(JSON.parse(node.dataset.i18nAttrs))) node.setAttribute(attr, t(key));
  }
}
