// Canonical tokens of a chat message: a port of crisis/normalize.py (see its docstrings), fed with
// the masked spellings and word lists exported by crisis/browser_model.py.

export const CLAUSE_BOUNDARY = "|";
const SMALL_NUMBER = "#";
const LARGE_NUMBER = "##";
const LARGE_NUMBER_FROM = 10;
const APOSTROPHES = /[’‘'`´]/g;
const INNER_SEPARATORS = /[._\-·/~]+/u;
const CLAUSE_SPLIT = /[.,;:!?¿¡…()"“”«»[\]{}]+/u;
const KEEP = /[^a-z0-9#*]/g;
const REPEATS = /(.)\1+/gu;
const DIGITS = /\p{Nd}+/gu;
const LEADING_NUMBER = /^(\p{Nd}+)([a-z]+)$/u;
// What Python's str.split() and \s treat as whitespace.
export const SPACE = "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const RAW_WORD = new RegExp(`[^${SPACE}]+`, "gu");
const IS_ALPHA = /\p{L}/u;
const IS_DIGIT = /\p{Nd}/u;
const IS_ALNUM = /[\p{L}\p{N}]/u;
const COMBINING = /\p{Mn}/gu;

export const isAlpha = (c) => IS_ALPHA.test(c);

export function splitWords(text) {
  return text.match(RAW_WORD) || [];
}

export function fold(text) {
  return text.toLowerCase().normalize("NFKD").replace(COMBINING, "");
}

function collapseRepeats(word) {
  return word.replace(REPEATS, "$1");
}

export class Normalizer {
  constructor(data) {
    this.unmask = new Map(Object.entries(data.unmask));
    this.numberWords = new Map(Object.entries(data.number_words));
    this.doseUnits = new Set(data.dose_units);
    this.clausePunct = new Set(Array.from(data.clause_punct));
    this.leet = new Map(Object.entries(data.leet));
    this.cache = new Map();
  }

  numberToken(digits) {
    return parseInt(digits.slice(0, 6), 10) >= LARGE_NUMBER_FROM ? LARGE_NUMBER : SMALL_NUMBER;
  }

  canonicalWord(core) {
    if (!core) return [];
    if (core === SMALL_NUMBER || core === LARGE_NUMBER) return [core];
    if (this.numberWords.has(core)) return [this.numberWords.get(core)];
    const chars = Array.from(core);
    const hasLetters = chars.some(isAlpha);
    const hasDigits = chars.some((c) => IS_DIGIT.test(c));
    if (hasDigits && !hasLetters) {
      const digits = core.match(DIGITS);
      return digits ? [this.numberToken(digits[0])] : [];
    }
    if (hasDigits) {
      const dose = LEADING_NUMBER.exec(core);
      if (dose && this.doseUnits.has(dose[2])) return [this.numberToken(dose[1]), dose[2]];
    }
    let word = hasLetters || core.includes("$") || core.includes("@")
      ? chars.map((c) => this.leet.get(c) ?? c).join("") : core;
    word = collapseRepeats(word.replace(KEEP, ""));
    if (word.includes("*")) word = this.unmask.get(word) ?? word.replaceAll("*", "");
    return word ? [word] : [];
  }

  trimClausePunct(part, out) {
    if (!Array.from(part).some((c) => this.clausePunct.has(c))) return part;
    const pieces = part.split(CLAUSE_SPLIT).filter(Boolean);
    for (const piece of pieces.slice(0, -1)) {
      out.push(...this.canonicalWord(piece));
      out.push(CLAUSE_BOUNDARY);
    }
    return pieces.length ? pieces[pieces.length - 1] : "";
  }

  normaliseWord(raw) {
    const known = this.cache.get(raw);
    if (known) return known;
    const word = Array.from(fold(raw).replace(APOSTROPHES, ""));
    const edge = (c, extra) => this.clausePunct.has(c) || !(IS_ALNUM.test(c) || extra.includes(c));
    let lead = 0;
    while (lead < word.length && edge(word[lead], "$@*#")) lead += 1;
    let trail = word.length;
    while (trail > lead && edge(word[trail - 1], "*#")) trail -= 1;
    const leading = word.slice(0, lead);
    const core = word.slice(lead, trail).join("");
    const trailing = word.slice(trail);
    const out = [];
    if (leading.some((c) => this.clausePunct.has(c))) out.push(CLAUSE_BOUNDARY);
    const parts = core.split(INNER_SEPARATORS).filter(Boolean);
    if (parts.length > 2 && parts.every((p) => Array.from(p).length === 1)) {
      out.push(...this.canonicalWord(parts.join("")));
    } else {
      const glued = core.includes(".") && /[a-z]\.[a-z]/.test(core);
      parts.forEach((part, index) => {
        if (index && glued) out.push(CLAUSE_BOUNDARY);
        out.push(...this.canonicalWord(this.trimClausePunct(part, out)));
      });
    }
    if (trailing.some((c) => this.clausePunct.has(c))) out.push(CLAUSE_BOUNDARY);
    if (this.cache.size > 65536) this.cache.clear();
    this.cache.set(raw, out);
    return out;
  }

  tokenize(text) {
    const tokens = [];
    for (const raw of text.matchAll(RAW_WORD)) {
      const start = raw.index;
      const end = start + raw[0].length;
      for (const piece of this.normaliseWord(raw[0])) tokens.push({ text: piece, start, end });
    }
    return this.joinSpelledOut(tokens);
  }

  joinSpelledOut(tokens) {
    const single = (t) => Array.from(t.text).length === 1 && isAlpha(t.text);
    if (tokens.length < 3) return tokens;
    let run = 0;
    let found = false;
    for (const t of tokens) {
      run = single(t) ? run + 1 : 0;
      if (run === 3) { found = true; break; }
    }
    if (!found) return tokens;
    const joined = [];
    let letters = [];
    for (const token of [...tokens, { text: CLAUSE_BOUNDARY, start: -1, end: -1 }]) {
      if (single(token)) { letters.push(token); continue; }
      if (letters.length >= 3) {
        const word = this.canonicalWord(letters.map((t) => t.text).join(""));
        if (word.length) joined.push({ text: word[0], start: letters[0].start, end: letters[letters.length - 1].end });
      } else {
        joined.push(...letters);
      }
      letters = [];
      if (token.start >= 0) joined.push(token);
    }
    return joined;
  }
}
