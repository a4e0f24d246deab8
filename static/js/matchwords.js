// The words for matching's codes (support areas, programs, levels, parts of the day) and the
// reasons a mentor is suggested, in the reader's language: "speaks Spanish · grief · free Tuesday
// evenings in your time". The server sends codes (docs/protocol.md, "Finding a mentor").
import { currentLanguage, t } from "./i18n.js";

export const AREAS = ["anxiety", "depression", "grief", "addiction_recovery", "ptsd", "lgbtq", "youth", "relationships", "stress",
  "self_esteem", "loneliness", "family", "trauma", "eating_disorders", "sleep", "chronic_illness"];
export const TRACKS = ["peer", "professional", "specialized", "group"];
export const GENDERS = ["woman", "man", "nonbinary"];
export const AGE_RANGES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"];
export const PARTS_OF_DAY = ["morning", "afternoon", "evening", "night"];
export const LANGUAGE_CHOICES = ["es", "en", "fr", "pt", "de", "it", "ar", "zh", "uk", "ru"];

export function areaName(code) {
  return t(`area.${code}`);
}

export function languageName(code) {
  try {
    return new Intl.DisplayNames([currentLanguage()], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

/** One reason in plain words. */
export function reasonText(reason) {
  switch (reason.kind) {
    case "language": return t("reason.language", { language: languageName(reason.code) });
    case "area": return areaName(reason.code);
    case "time": return t(`reason.time_${reason.part}`, { day: t(`weekday.habitual_${reason.weekday}`) });
    case "experience": return t("reason.experience", { area: areaName(reason.code) });
    case "certified": return t("reason.certified", { level: t(`certification.${reason.code}`), hours: reason.hours });
    case "verified": return t("reason.verified");
    case "new": return t("reason.new");
    default: return "";
  }
}

export function reasonsLine(reasons) {
  return (reasons || []).map(reasonText).filter(Boolean).join(" · ");
}

/** When a mentor is free, in the reader's time: "Tuesday evenings, Saturday mornings". */
export function timesLine(times) {
  return (times || []).map((x) => t(`reason.when_${x.part}`, { day: t(`weekday.habitual_${x.weekday}`) })).join(", ");
}

/** A card's one-line summary: program, areas, languages, certification. */
export function mentorSummary(mentor) {
  const parts = [t(`track.${mentor.track}`), mentor.areas.map(areaName).join(", "), mentor.languages.map(languageName).join(", ")];
  if (mentor.certification) parts.push(t("reason.certified", { level: t(`certification.${mentor.certification}`), hours: mentor.certification_hours }));
  if (mentor.credential_verified) parts.push(t("reason.verified"));
  return parts.filter(Boolean).join(" · ");
}

/**
 * Checkboxes for a set of codes, inside a fieldset with a legend (catalog key ``legend``);
 * ``label(code)`` gives each box's el() props: {i18n: key} (follows the language) or {text}.
 */
export function choiceBoxes(el, legend, codes, label, chosen = []) {
  const picked = new Set(chosen);
  return el("fieldset", { class: "choices" }, el("legend", { i18n: legend }),
    ...codes.map((code) => {
      const id = `${legend}-${code}`.replace(/[^a-z0-9-]/gi, "-");
      return el("span", { class: "toggle" },
        el("input", { type: "checkbox", id, value: code, checked: picked.has(code) }),
        el("label", { htmlFor: id, ...label(code) }));
    }));
}

/** A <select> of codes with a first "no preference" option; labels as in choiceBoxes. */
export function codeSelect(el, codes, label, noneKey) {
  return el("select", {}, el("option", { value: "", i18n: noneKey }), ...codes.map((code) => el("option", { value: code, ...label(code) })));
}

export function checkedValues(fieldset) {
  return [...fieldset.querySelectorAll("input:checked")].map((box) => box.value);
}

export function setChecked(fieldset, values) {
  const wanted = new Set(values || []);
  for (const box of fieldset.querySelectorAll("input[type=checkbox]")) box.checked = wanted.has(box.value);
}
