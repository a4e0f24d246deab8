"""Risk-phrase detection for chat messages, graded on the Columbia scale (C-SSRS).

Tiers:
    0  nothing found (including figurative speech: "this exam is killing me")
    1  passive ideation or hopelessness: "I wish I was dead", "they'd be better off without me";
       also any risk phrase under negation ("I'm not going to kill myself"), because a person who
       says it has the topic on their mind
    2  active ideation or a method named: "I want to kill myself", "thinking of jumping"
    3  intent, plan, preparation, behaviour, or means and doses: "took 30 tylenol", "saved up my
       pills", "wrote my note", or tier-1/2 talk together with means ("pills", "rope") or plan
       words; a time ("tonight") lifts tier 2 to 3 and tier 1 to 2

Means and method words weigh more than the word "suicide" (Crisis Text Line's finding), so the
bare word never alerts; a first-person phrase around it does.

Every native lexicon is scanned whatever the identified language: identification on short chat is
~94 % accurate and people mix languages, while a second automaton pass costs about a microsecond.
A caller that names a language we do not cover gets tier 0 with a reason saying so, and is
expected to scan an English translation with ``detect(translation, "en", trust_language=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from crisis.classifier import Thresholds, lexicon_features, load_classifier, token_features
from crisis.language import DEFAULT_LANGUAGE, hint_fits, identify, primary_subtag
from crisis.lexicon import Entry, Lexicon, available_languages, load_lexicon
from crisis.normalize import CLAUSE_BOUNDARY, Token, tokenize

SUPPORTED_LANGUAGES: tuple[str, ...] = available_languages()
NOT_COVERED_REASON = "language not covered natively"
# A writer's window (crisis.conversation) pages a responder when each of its last
# CONVERSATION_MIN_MESSAGES messages reads at least CONVERSATION_MIN_PROBABILITY on its own and
# the messages read as one text reach CONVERSATION_JOINED_PROBABILITY (and the language's risk
# threshold). Chosen on the authored training split's ordinary three-message windows (about 2 %
# of them alert, most of those sad lines in a row); two sad lines are tier 1, not yet a page.
CONVERSATION_MIN_PROBABILITY = 0.2
CONVERSATION_JOINED_PROBABILITY = 0.5
CONVERSATION_MIN_MESSAGES = 3

_CATEGORY_REASONS = {
    "passive_ideation": "wish to be dead or not to wake up (C-SSRS 1, passive ideation)",
    "hopelessness": "hopelessness or feeling a burden (passive, tier 1)",
    "active_ideation": "thoughts of killing oneself (C-SSRS 2, active ideation)",
    "method": "a method is named (C-SSRS 3, ideation with method)",
    "self_harm": "self-harm",
    "intent": "stated intent to act (C-SSRS 4, intent)",
    "plan": "a plan (C-SSRS 5, plan)",
    "preparation": "preparation: means gathered, note written or goodbyes said (C-SSRS behaviour)",
    "behaviour": "an act: overdose, attempt, or means in hand (C-SSRS behaviour)",
}
_AMPLIFIER_REASONS = {
    "means": "means named together with risk talk",
    "timing": "a time named together with risk talk",
    "plan": "a plan or goodbye mentioned together with risk talk",
}


@dataclass(frozen=True, slots=True)
class Detection:
    """What the detector found in one message, and why."""

    tier: int
    language: str
    matches: tuple[str, ...]
    reasons: tuple[str, ...]
    negated: bool = False
    harassment: bool = False
    language_source: str = "identified"
    text: str = field(default="", repr=False)
    span: tuple[int, int] | None = field(default=None, repr=False)  # strongest match, in `text`
    probability: float | None = None  # the classifier's P(risk); None when it did not run

    def excerpt(self, max_chars: int = 160) -> str:
        """A short quote of the original text around the strongest match, for alerts."""
        text = " ".join(self.text.split()) if self.span is None else self.text
        if len(text) <= max_chars:
            return " ".join(text.split())
        if self.span is None:
            return text[: max_chars - 1].rstrip() + "…"
        start, end = self.span
        room = max(max_chars - (end - start), 0)
        left = max(start - room // 2, 0)
        right = min(left + max_chars, len(text))
        left = max(right - max_chars, 0)
        quote = text[left:right]
        if left > 0:
            quote = "…" + quote[1:]
        if right < len(text):
            quote = quote[:-1] + "…"
        return " ".join(quote.split())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no message text: callers decide whether to store it)."""
        return {
            "tier": self.tier,
            "language": self.language,
            "language_source": self.language_source,
            "matches": list(self.matches),
            "reasons": list(self.reasons),
            "negated": self.negated,
            "harassment": self.harassment,
            "probability": None if self.probability is None else round(self.probability, 4),
        }


@dataclass(slots=True)
class _Hit:
    entry: Entry
    first: int  # token indexes, inclusive
    last: int
    language: str
    negated: bool = False

    @property
    def tier(self) -> int:
        return min(self.entry.tier, 1) if self.negated else self.entry.tier

    def overlaps(self, first: int, last: int) -> bool:
        return self.first <= last and first <= self.last


@cache
def _lexicons(primary: str) -> tuple[Lexicon, ...]:
    """Every native lexicon, the primary language's first (its phrasing wins ties)."""
    ordered = [primary] + [lang for lang in SUPPORTED_LANGUAGES if lang != primary]
    return tuple(load_lexicon(lang) for lang in ordered)


def detect(text: str, language: str | None = None, *, trust_language: bool = False) -> Detection:
    """Grade one chat message: lexicon tiers, then the classifier's reading of the same tokens.

    ``language`` is the caller's hint (profile/UI language, BCP 47 accepted). It is used as is when
    ``trust_language`` is set or the message is short; otherwise the message is identified among
    ``SUPPORTED_LANGUAGES``. A hint outside them returns tier 0 with ``NOT_COVERED_REASON``.
    """
    analysis = analyse(text, language, trust_language=trust_language)
    if isinstance(analysis, Detection):
        return analysis
    classifier = load_classifier()
    probability = classifier.probability(analysis.features)
    return combine(analysis.lexical, probability, classifier.thresholds_for(analysis.lexical.language))


@dataclass(frozen=True, slots=True)
class Analysis:
    """The lexicon's grade of a text and the features the classifier reads."""

    lexical: Detection
    features: list[str]


def analyse(text: str, language: str | None = None, *, trust_language: bool = False) -> Analysis | Detection:
    """Lexicon pass and classifier features; a ``Detection`` when the language is not covered."""
    hint = primary_subtag(language) if language else None
    _lexicons(DEFAULT_LANGUAGE)  # loaded before tokenising: they teach it masked spellings
    tokens = tokenize(text)
    words = [t.text for t in tokens]
    if hint and (trust_language or (hint in SUPPORTED_LANGUAGES and hint_fits(words, hint))):
        lang, source = hint, "caller"
    else:
        lang, source = identify(text, SUPPORTED_LANGUAGES, language)
    if lang not in SUPPORTED_LANGUAGES:
        return Detection(0, lang, (), (f"{NOT_COVERED_REASON}: scan an English translation",),
                         language_source=source, text=text)
    lexicons = _lexicons(lang)
    hits = _find_hits(words, lexicons)
    lexical, findings = _grade(hits, words, tokens, lexicons, lang, source, text)
    return Analysis(lexical, token_features(words) + lexicon_features(findings))


def combine(lexical: Detection, probability: float, thresholds: Thresholds) -> Detection:
    """The hybrid rule: the lexicon explains, the classifier confirms, adds or vetoes.

    A tier-3 finding (intent, plan, preparation, means) and a negated one ("I'm not going to kill
    myself": the topic is on the writer's mind) are never overruled. A tier-1/2 finding the
    classifier reads as no risk at all (below ``veto``) is figurative speech, a joke, news, lyrics
    or talk about someone else; a tier-2 finding it reads as unlikely (below ``risk``) stays below
    the alert tier ("kms lol this exam"). A confident classifier lifts a finding to
    the alert tier ("everyone would be better off without me"); with no finding, the classifier
    alone gives tier 1, or 2 when confident. A language without thresholds of its own keeps the
    lexicon's grade.
    """
    if thresholds.lexicon_only:
        return lexical
    tier = lexical.tier
    reasons = list(lexical.reasons)
    score = f"{probability:.2f}"
    if tier >= 3 or lexical.negated:
        if probability >= thresholds.risk:
            reasons.append(f"the classifier agrees (risk {score})")
    elif tier >= 1:
        if probability < thresholds.veto:
            return replace(lexical, tier=0, probability=probability, reasons=(
                *reasons, f"read as not a risk for the writer by the classifier (risk {score}): not counted"))
        if probability < thresholds.risk and tier >= 2:
            tier = 1
            reasons.append(f"the classifier reads little risk (risk {score}), so it stays below the alert tier")
        elif probability >= thresholds.alert and tier < 2:
            tier = 2
            reasons.append(f"the classifier reads strong risk (risk {score}), so it alerts")
    elif probability >= thresholds.alert:
        tier = 2
        reasons.append(f"risk language the lexicon does not list: hopelessness, burden, farewell or ideation "
                       f"(classifier risk {score})")
    elif probability >= thresholds.risk:
        tier = 1
        reasons.append(f"possible risk language the lexicon does not list (classifier risk {score})")
    return replace(lexical, tier=tier, reasons=tuple(reasons), probability=probability)


def detect_conversation(texts: Sequence[str], language: str | None = None, *,
                        graded: Sequence[Detection] | None = None) -> Detection:
    """Grade a writer's recent messages in one room together, oldest first, the newest last.

    Risk often builds over several messages ("so tired of everything" … "nothing matters
    anymore" … "I just want it to end") where no single one crosses the alert tier. The window
    alerts when its last ``CONVERSATION_MIN_MESSAGES`` messages each read as somewhat risky and
    together as risk; otherwise the newest message keeps its own grade (an earlier message that
    alerted did so on its own, and must not page again for every later line). A newest message
    with no sign of risk ends the check at once, which keeps ordinary chat at the cost of one
    message. ``graded`` are the texts' own detections when the caller already has them (the live
    scan does), so only the joined text is graded again.
    """
    singles = list(graded) if graded is not None else [detect(text, language) for text in texts]
    newest = singles[-1]
    if len(texts) < 2 or (newest.tier == 0 and (newest.probability or 0.0) < CONVERSATION_MIN_PROBABILITY):
        return newest
    texts, singles = texts[-CONVERSATION_MIN_MESSAGES:], singles[-CONVERSATION_MIN_MESSAGES:]
    joined = detect("\n".join(texts), language)
    leaning = sum(1 for d in singles if d.tier >= 1 or (d.probability or 0.0) >= CONVERSATION_MIN_PROBABILITY)
    thresholds = load_classifier().thresholds_for(joined.language)
    built_up = (len(texts) == CONVERSATION_MIN_MESSAGES and leaning == len(texts) and not thresholds.lexicon_only
                and (joined.probability or 0.0) >= max(thresholds.risk, CONVERSATION_JOINED_PROBABILITY))
    if not built_up:
        return newest
    reason = f"risk built up over the writer's last {len(texts)} messages"
    return replace(joined, tier=max(newest.tier, 2), reasons=(*joined.reasons, reason))


def _find_hits(words: list[str], lexicons: tuple[Lexicon, ...]) -> list[_Hit]:
    padded = " " + " ".join(words) + " "
    hits: list[_Hit] = []
    for lexicon in lexicons:
        for end, entry in lexicon.automaton.iter(padded):
            last = padded.count(" ", 0, end) - 1
            hits.append(_Hit(entry, last - entry.length + 1, last, lexicon.language))
    return hits


def _grade(hits: list[_Hit], words: list[str], tokens: list[Token], lexicons: tuple[Lexicon, ...],
           lang: str, source: str, text: str) -> tuple[Detection, list[str]]:
    """The lexicon's tier, and its findings named for the classifier (kinds, categories, negation)."""
    by_language = {lex.language: lex for lex in lexicons}
    figurative = [h for h in hits if h.entry.kind == "figurative"]
    literal = [h for h in hits if h.entry.kind != "figurative" and not any(h.overlaps(f.first, f.last) for f in figurative)]
    reasons: list[str] = []

    risk: list[_Hit] = []
    about_others = False
    for hit in (h for h in literal if h.entry.kind == "risk"):
        lexicon = by_language[hit.language]
        if not hit.entry.self_evident and _speaker_is_someone_else(words, hit.first, lexicon):
            about_others = True
            continue
        hit.negated = _is_negated(words, hit.first, lexicon)
        risk.append(hit)
    harassment = any(h.entry.kind == "harassment" for h in literal)

    if not risk:
        if harassment:
            reasons.append("aimed at someone else (harassment such as 'kys'), not a self-risk signal")
        if about_others:
            reasons.append("risk words about someone else, not the writer")
        if figurative and not reasons:
            reasons.append(f"figurative use only: \"{figurative[0].entry.phrase}\"")
        # Means and timing words without risk talk are ordinary ("picking up my pills tonight").
        findings = [f"{h.entry.kind}:{h.entry.category}" for h in hits if h.entry.kind != "amplifier"]
        findings += ["others"] if about_others else []
        return Detection(0, lang, (), tuple(reasons), harassment=harassment, language_source=source,
                         text=text), findings

    risk = [h for h in risk if not _inside_stronger(h, risk)]
    risk.sort(key=lambda h: (h.tier, h.entry.length), reverse=True)
    tier = risk[0].tier
    affirmed = [h for h in risk if not h.negated]
    negated = not affirmed
    for hit in risk:
        reason = f"{_CATEGORY_REASONS[hit.entry.category]}: \"{hit.entry.phrase}\""
        if hit.negated:
            reason += " (negated, so lowered to tier 1 but not silenced)"
        if reason not in reasons:
            reasons.append(reason)
    matches = [h.entry.phrase for h in risk]

    if affirmed:
        amplifiers = [h for h in literal if h.entry.kind == "amplifier"
                      and not any(h.overlaps(r.first, r.last) for r in risk)]
        for amp in amplifiers:
            category = amp.entry.category
            lifted = tier
            if category == "timing":
                lifted = 3 if tier >= 2 else 2
            elif any(h.entry.category != "method" for h in affirmed):
                lifted = 3  # a named method already implies its means ("jump off" + "bridge")
            matches.append(amp.entry.phrase)
            reasons.append(f"{_AMPLIFIER_REASONS[category]}: \"{amp.entry.phrase}\"")
            tier = max(tier, lifted)
    if about_others:
        reasons.append("some risk words were about someone else and were not counted")
    findings = [f"{h.entry.kind}:{h.entry.category}" for h in hits] + [f"tier{tier}"]
    findings += ["negated"] if negated else []
    findings += ["others"] if about_others else []
    return Detection(tier, lang, tuple(dict.fromkeys(matches)), tuple(reasons), negated=negated,
                     harassment=harassment, language_source=source, text=text,
                     span=_span_chars(tokens, risk[0])), findings


def _inside_stronger(hit: _Hit, others: list[_Hit]) -> bool:
    """"quiero morir" inside "me quiero morir" adds nothing: report the longer phrase only."""
    return any(o is not hit and o.first <= hit.first and hit.last <= o.last and o.entry.length > hit.entry.length
               and o.tier >= hit.tier for o in others)


def _span_chars(tokens: list[Token], hit: _Hit) -> tuple[int, int] | None:
    if not tokens:
        return None
    return tokens[hit.first].start, tokens[min(hit.last, len(tokens) - 1)].end


def _clause_window(words: list[str], first: int, size: int) -> range:
    """Indexes of up to ``size`` words before ``first``, nearest first, within its clause."""
    stop = first - 1
    floor = max(first - size, 0)
    index = stop
    while index >= floor and words[index] != CLAUSE_BOUNDARY:
        index -= 1
    return range(stop, index, -1)


def _is_negated(words: list[str], first: int, lexicon: Lexicon) -> bool:
    for index in _clause_window(words, first, lexicon.negation_window):
        if words[index] in lexicon.negations and not any(
            tuple(words[index:index + len(p)]) == p for p in lexicon.pseudo_negations
        ):
            return True
    return False


def _speaker_is_someone_else(words: list[str], first: int, lexicon: Lexicon) -> bool:
    if not lexicon.other_subjects:
        return False
    for index in _clause_window(words, first, lexicon.subject_window):
        if words[index] in lexicon.self_markers:
            return False
        if words[index] in lexicon.other_subjects:
            return True
    return False
