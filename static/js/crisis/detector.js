// Risk-phrase detection on the writer's own device, for private rooms: a port of
// crisis/detector.py and crisis/classifier.py (read their docstrings for the why) over the data
// crisis/browser_model.py exports. tests/test_crisis_device_parity.py holds the two to the same
// tiers on the evaluation corpus.

import { CLAUSE_BOUNDARY, Normalizer, splitWords } from "./normalize.js";
import { LanguageIdentifier, primarySubtag } from "./language.js";

const NOT_COVERED_REASON = "language not covered natively";
const CATEGORY_REASONS = {
  passive_ideation: "wish to be dead or not to wake up (C-SSRS 1, passive ideation)",
  hopelessness: "hopelessness or feeling a burden (passive, tier 1)",
  active_ideation: "thoughts of killing oneself (C-SSRS 2, active ideation)",
  method: "a method is named (C-SSRS 3, ideation with method)",
  self_harm: "self-harm",
  intent: "stated intent to act (C-SSRS 4, intent)",
  plan: "a plan (C-SSRS 5, plan)",
  preparation: "preparation: means gathered, note written or goodbyes said (C-SSRS behaviour)",
  behaviour: "an act: overdose, attempt, or means in hand (C-SSRS behaviour)",
};
const AMPLIFIER_REASONS = {
  means: "means named together with risk talk",
  timing: "a time named together with risk talk",
  plan: "a plan or goodbye mentioned together with risk talk",
};

function squash(text) {
  return splitWords(text).join(" ");
}

export class Detection {
  constructor(fields) {
    Object.assign(this, { matches: [], reasons: [], negated: false, harassment: false, languageSource: "identified",
      text: "", span: null, probability: null }, fields);
  }

  with(changes) {
    return new Detection({ ...this, ...changes });
  }

  /** A short quote around the strongest match: all that ever leaves the device (crisis:device_alert). */
  excerpt(maxChars = 160) {
    const text = this.span === null ? squash(this.text) : this.text;
    if (Array.from(text).length <= maxChars) return squash(text);
    if (this.span === null) return text.slice(0, maxChars - 1).trimEnd() + "…";
    const [start, end] = this.span;
    const room = Math.max(maxChars - (end - start), 0);
    let left = Math.max(start - Math.floor(room / 2), 0);
    const right = Math.min(left + maxChars, text.length);
    left = Math.max(right - maxChars, 0);
    let quote = text.slice(left, right);
    if (left > 0) quote = "…" + quote.slice(1);
    if (right < text.length) quote = quote.slice(0, -1) + "…";
    return squash(quote);
  }
}

class Lexicon {
  constructor(language, data) {
    this.language = language;
    // The parsed JSON object itself (no copy: it has tens of thousands of keys), read with hasOwn.
    this.table = data.entries;
    this.found = new Map();
    this.longest = data.longest;
    this.negations = new Set(data.negations);
    this.pseudoNegations = data.pseudo_negations;
    this.selfMarkers = new Set(data.self_markers);
    this.otherSubjects = new Set(data.other_subjects);
    this.negationWindow = data.negation_window;
    this.subjectWindow = data.subject_window;
  }

  entry(key) {
    if (!Object.hasOwn(this.table, key)) return undefined;
    let entry = this.found.get(key);
    if (!entry) {
      const [phrase, kind, tier, category, length, selfEvident] = this.table[key];
      entry = { phrase, kind, tier, category, length, selfEvident };
      this.found.set(key, entry);
    }
    return entry;
  }
}

function hitTier(hit) {
  return hit.negated ? Math.min(hit.entry.tier, 1) : hit.entry.tier;
}

function overlaps(hit, first, last) {
  return hit.first <= last && first <= hit.last;
}

export class Detector {
  constructor(model) {
    this.model = model;
    this.languages = model.languages;
    this.normalizer = new Normalizer(model.normalize);
    this.identifier = new LanguageIdentifier(model.identifier, model.function_words, model.short_message_words,
      model.default_language);
    this.lexicons = new Map(this.languages.map((lang) => [lang, new Lexicon(lang, model.lexicons[lang])]));
    const classifier = model.classifier;
    this.weights = classifier.weights;
    this.bias = classifier.bias;
    this.thresholds = classifier.thresholds;
    this.maxTokens = classifier.max_tokens;
  }

  ordered(primary) {
    return [primary, ...this.languages.filter((lang) => lang !== primary)].map((lang) => this.lexicons.get(lang));
  }

  thresholdsFor(language) {
    return this.thresholds[language] || this.thresholds["*"];
  }

  probability(features) {
    if (!features.length) return 1 / (1 + Math.exp(-this.bias));
    const seen = new Set(features);
    let total = 0;
    for (const feature of seen) {
      if (Object.hasOwn(this.weights, feature)) total += this.weights[feature];
    }
    const z = this.bias + total / Math.sqrt(seen.size);
    if (z < -30) return 0;
    return 1 / (1 + Math.exp(-z));
  }

  tokenFeatures(words) {
    words = words.slice(0, this.maxTokens);
    const features = words.filter((w) => w !== CLAUSE_BOUNDARY);
    let previous = CLAUSE_BOUNDARY;
    for (const word of words) {
      if (word !== CLAUSE_BOUNDARY && previous !== CLAUSE_BOUNDARY) features.push(previous + " " + word);
      previous = word;
    }
    return features;
  }

  /** Grade one message as crisis.detector.detect does: lexicon tiers, then the classifier. */
  detect(text, language = null, { trustLanguage = false } = {}) {
    const analysis = this.analyse(text, language, trustLanguage);
    if (analysis instanceof Detection) return analysis;
    const probability = this.probability(analysis.features);
    return this.combine(analysis.lexical, probability, this.thresholdsFor(analysis.lexical.language));
  }

  analyse(text, language, trustLanguage) {
    const hint = language ? primarySubtag(language) : null;
    const tokens = this.normalizer.tokenize(text);
    const words = tokens.map((t) => t.text);
    let lang;
    let source;
    if (hint && (trustLanguage || (this.languages.includes(hint) && this.identifier.hintFits(words, hint)))) {
      [lang, source] = [hint, "caller"];
    } else {
      [lang, source] = this.identifier.identify(text, this.languages, language);
    }
    if (!this.languages.includes(lang)) {
      return new Detection({ tier: 0, language: lang, reasons: [`${NOT_COVERED_REASON}: scan an English translation`],
        languageSource: source, text });
    }
    const lexicons = this.ordered(lang);
    const hits = this.findHits(words, lexicons);
    const [lexical, findings] = this.grade(hits, words, tokens, lexicons, lang, source, text);
    return { lexical, features: [...this.tokenFeatures(words), ...findings.map((c) => "lex:" + c)] };
  }

  combine(lexical, probability, thresholds) {
    if (thresholds.risk > 1) return lexical;
    let tier = lexical.tier;
    const reasons = [...lexical.reasons];
    const score = probability.toFixed(2);
    if (tier >= 3 || lexical.negated) {
      if (probability >= thresholds.risk) reasons.push(`the classifier agrees (risk ${score})`);
    } else if (tier >= 1) {
      if (probability < thresholds.veto) {
        return lexical.with({ tier: 0, probability,
          reasons: [...reasons, `read as not a risk for the writer by the classifier (risk ${score}): not counted`] });
      }
      if (probability < thresholds.risk && tier >= 2) {
        tier = 1;
        reasons.push(`the classifier reads little risk (risk ${score}), so it stays below the alert tier`);
      } else if (probability >= thresholds.alert && tier < 2) {
        tier = 2;
        reasons.push(`the classifier reads strong risk (risk ${score}), so it alerts`);
      }
    } else if (probability >= thresholds.alert) {
      tier = 2;
      reasons.push(`risk language the lexicon does not list: hopelessness, burden, farewell or ideation (classifier risk ${score})`);
    } else if (probability >= thresholds.risk) {
      tier = 1;
      reasons.push(`possible risk language the lexicon does not list (classifier risk ${score})`);
    }
    return lexical.with({ tier, reasons, probability });
  }

  findHits(words, lexicons) {
    const hits = [];
    for (const lexicon of lexicons) {
      for (let first = 0; first < words.length; first += 1) {
        let key = "";
        for (let length = 1; length <= lexicon.longest && first + length <= words.length; length += 1) {
          key = length === 1 ? words[first] : key + " " + words[first + length - 1];
          const entry = lexicon.entry(key);
          if (entry) hits.push({ entry, first, last: first + length - 1, language: lexicon.language, negated: false });
        }
      }
    }
    return hits;
  }

  grade(hits, words, tokens, lexicons, lang, source, text) {
    const byLanguage = new Map(lexicons.map((lex) => [lex.language, lex]));
    const figurative = hits.filter((h) => h.entry.kind === "figurative");
    const literal = hits.filter((h) => h.entry.kind !== "figurative" && !figurative.some((f) => overlaps(h, f.first, f.last)));
    const reasons = [];
    let risk = [];
    let aboutOthers = false;
    for (const hit of literal.filter((h) => h.entry.kind === "risk")) {
      const lexicon = byLanguage.get(hit.language);
      if (!hit.entry.selfEvident && this.speakerIsSomeoneElse(words, hit.first, lexicon)) {
        aboutOthers = true;
        continue;
      }
      hit.negated = this.isNegated(words, hit.first, lexicon);
      risk.push(hit);
    }
    const harassment = literal.some((h) => h.entry.kind === "harassment");
    if (!risk.length) {
      if (harassment) reasons.push("aimed at someone else (harassment such as 'kys'), not a self-risk signal");
      if (aboutOthers) reasons.push("risk words about someone else, not the writer");
      if (figurative.length && !reasons.length) reasons.push(`figurative use only: "${figurative[0].entry.phrase}"`);
      const findings = hits.filter((h) => h.entry.kind !== "amplifier").map((h) => `${h.entry.kind}:${h.entry.category}`);
      if (aboutOthers) findings.push("others");
      return [new Detection({ tier: 0, language: lang, reasons, harassment, languageSource: source, text }), findings];
    }
    risk = risk.filter((h) => !this.insideStronger(h, risk));
    risk.sort((a, b) => (hitTier(b) - hitTier(a)) || (b.entry.length - a.entry.length));
    let tier = hitTier(risk[0]);
    const affirmed = risk.filter((h) => !h.negated);
    const negated = !affirmed.length;
    for (const hit of risk) {
      let reason = `${CATEGORY_REASONS[hit.entry.category]}: "${hit.entry.phrase}"`;
      if (hit.negated) reason += " (negated, so lowered to tier 1 but not silenced)";
      if (!reasons.includes(reason)) reasons.push(reason);
    }
    const matches = risk.map((h) => h.entry.phrase);
    if (affirmed.length) {
      const amplifiers = literal.filter((h) => h.entry.kind === "amplifier" && !risk.some((r) => overlaps(h, r.first, r.last)));
      for (const amp of amplifiers) {
        const category = amp.entry.category;
        let lifted = tier;
        if (category === "timing") lifted = tier >= 2 ? 3 : 2;
        else if (affirmed.some((h) => h.entry.category !== "method")) lifted = 3;
        matches.push(amp.entry.phrase);
        reasons.push(`${AMPLIFIER_REASONS[category]}: "${amp.entry.phrase}"`);
        tier = Math.max(tier, lifted);
      }
    }
    if (aboutOthers) reasons.push("some risk words were about someone else and were not counted");
    const findings = [...hits.map((h) => `${h.entry.kind}:${h.entry.category}`), `tier${tier}`];
    if (negated) findings.push("negated");
    if (aboutOthers) findings.push("others");
    const strongest = risk[0];
    const span = tokens.length ? [tokens[strongest.first].start, tokens[Math.min(strongest.last, tokens.length - 1)].end] : null;
    return [new Detection({ tier, language: lang, matches: [...new Set(matches)], reasons, negated, harassment,
      languageSource: source, text, span }), findings];
  }

  insideStronger(hit, others) {
    return others.some((o) => o !== hit && o.first <= hit.first && hit.last <= o.last && o.entry.length > hit.entry.length
      && hitTier(o) >= hitTier(hit));
  }

  clauseWindow(words, first, size) {
    const stop = first - 1;
    const floor = Math.max(first - size, 0);
    let index = stop;
    while (index >= floor && words[index] !== CLAUSE_BOUNDARY) index -= 1;
    const out = [];
    for (let i = stop; i > index; i -= 1) out.push(i);
    return out;
  }

  isNegated(words, first, lexicon) {
    for (const index of this.clauseWindow(words, first, lexicon.negationWindow)) {
      if (lexicon.negations.has(words[index]) && !lexicon.pseudoNegations.some(
        (p) => p.every((w, k) => words[index + k] === w) && index + p.length <= words.length)) return true;
    }
    return false;
  }

  speakerIsSomeoneElse(words, first, lexicon) {
    if (!lexicon.otherSubjects.size) return false;
    for (const index of this.clauseWindow(words, first, lexicon.subjectWindow)) {
      if (lexicon.selfMarkers.has(words[index])) return false;
      if (lexicon.otherSubjects.has(words[index])) return true;
    }
    return false;
  }
}

let loaded = null;

/** The detector, loaded once per page from the exported model (a few MB, cached by the browser). */
export function loadDetector(url = "/static/js/crisis/model.json") {
  if (!loaded) loaded = fetch(url).then((r) => r.json()).then((model) => new Detector(model));
  return loaded;
}
