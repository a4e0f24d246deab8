// Which covered language a message is in: a port of crisis/language.py, with py3langid's
// byte-n-gram naive Bayes rebuilt from the features crisis/browser_model.py exported.

import { isAlpha, splitWords } from "./normalize.js";

export function primarySubtag(language) {
  return language.replaceAll("_", "-").split("-", 1)[0].trim().toLowerCase();
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function isUpper(text) {
  return text !== text.toLowerCase() && text === text.toUpperCase();
}

export class LanguageIdentifier {
  constructor(data, functionWords, shortMessageWords, defaultLanguage) {
    this.data = data;
    this.classes = data.classes;
    this.prior = data.prior;
    this.features = null; // built on the first identification: most messages never need one
    this.functionWords = functionWords;
    this.shortMessageWords = shortMessageWords;
    this.defaultLanguage = defaultLanguage;
    this.languagesOfWord = new Map();
    for (const [language, words] of Object.entries(functionWords)) {
      for (const word of words) this.languagesOfWord.set(word, [...(this.languagesOfWord.get(word) || []), language]);
    }
  }

  hintFits(words, hint) {
    if (!(hint in this.functionWords)) return false;
    const counts = new Map();
    for (const word of words) {
      for (const language of this.languagesOfWord.get(word) || []) counts.set(language, (counts.get(language) || 0) + 1);
    }
    const own = counts.get(hint) || 0;
    return [...counts.values()].every((n) => n <= own);
  }

  identify(text, supported, hint) {
    if (hint) {
      hint = primarySubtag(hint);
      if (!supported.includes(hint)) return [hint, "caller"];
      if (splitWords(text).length < this.shortMessageWords) return [hint, "caller"];
    }
    if (!Array.from(text).some(isAlpha)) return hint ? [hint, "caller"] : [this.defaultLanguage, "default"];
    return [this.classify(text), "identified"];
  }

  /** Feature byte strings -> index into the float16 table, decoded once. */
  load() {
    if (this.features) return;
    const packed = base64Bytes(this.data.features);
    this.weights = new DataView(base64Bytes(this.data.weights_f16).buffer);
    this.features = new Map();
    this.longest = 0;
    let offset = 0;
    for (let index = 0; offset < packed.length; index += 1) {
      const length = packed[offset];
      this.features.set(String.fromCharCode(...packed.subarray(offset + 1, offset + 1 + length)), index);
      this.longest = Math.max(this.longest, length);
      offset += 1 + length;
    }
  }

  classify(text) {
    this.load();
    const normal = (isUpper(text) ? text.toLowerCase() : text).normalize("NFC");
    const bytes = new TextEncoder().encode(normal);
    let latin = "";
    for (let i = 0; i < bytes.length; i += 4096) latin += String.fromCharCode(...bytes.subarray(i, i + 4096));
    const counts = new Map();
    for (let end = 1; end <= latin.length; end += 1) {
      for (let length = Math.min(this.longest, end); length >= 1; length -= 1) {
        const key = latin.slice(end - length, end);
        if (this.features.has(key)) {
          counts.set(key, (counts.get(key) || 0) + 1);
          break;
        }
      }
    }
    if (!counts.size) return this.classes[0];
    const scores = this.prior.slice();
    const width = this.classes.length;
    for (const [key, count] of counts) {
      const row = this.features.get(key) * width;
      const scale = Math.log1p(count);
      for (let c = 0; c < width; c += 1) scores[c] += scale * halfToFloat(this.weights.getUint16((row + c) * 2, true));
    }
    let best = 0;
    for (let c = 1; c < scores.length; c += 1) if (scores[c] > scores[best]) best = c;
    return this.classes[best];
  }
}
