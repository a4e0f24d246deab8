"""Honest figures for the crisis detector: ``python -m crisis evaluate``.

Everything printed is measured on texts the model did not train on, and thresholds come from
validation splits only. Three views:

1. the shipped model on every source's test split (C-SSRS users it never saw, GoEmotions' test
   file, the authored ``*.eval.jsonl`` sets), lexicon alone beside the hybrid;
2. across sources: a model trained without one source, tested on that whole source;
3. hard negatives (figurative speech, jokes, lyrics, news, someone else, helping, negation) by kind,
   the exact-tier confusion table and the 20 worst errors.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from crisis.classifier import RiskClassifier, load_classifier
from crisis.detector import combine, detect, detect_conversation
from crisis.training.datasets import Example, all_examples
from crisis.training.train import Featurised, featurise, fit, split

HARD_NEGATIVE_NOTES = ("figurative", "joke", "lyrics", "news", "other_person", "helping", "recovery")
Grader = Callable[[Featurised], int]


def _scores(pairs: Sequence[tuple[int, int]], threshold: int) -> tuple[int, int, int, float, float, float]:
    tp = sum(1 for e, p in pairs if e >= threshold and p >= threshold)
    fp = sum(1 for e, p in pairs if e < threshold <= p)
    fn = sum(1 for e, p in pairs if p < threshold <= e)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return tp, fp, fn, precision, recall, f1


def _line(name: str, pairs: Sequence[tuple[int, int]], tiers: Sequence[int] = (1, 2, 3)) -> None:
    cells = []
    for t in tiers:
        _tp, _fp, _fn, p, r, f = _scores(pairs, t)
        cells.append(f"tier>={t} P {p:.3f} R {r:.3f} F1 {f:.3f}")
    positives = sum(1 for e, _ in pairs if e >= 1)
    if not positives:
        alarms = sum(1 for _, p in pairs if p >= 1) / max(len(pairs), 1)
        print(f"  {name:<44} n {len(pairs):5d} (no risk)  false alarms (tier>=1) {alarms:.1%}, "
              f"alerts (tier>=2) {sum(1 for _, p in pairs if p >= 2) / max(len(pairs), 1):.1%}")
        return
    print(f"  {name:<44} n {len(pairs):5d} (risk {positives:4d})  " + " | ".join(cells))


def hybrid_grader(model: RiskClassifier) -> Grader:
    """Tier of a featurised text under a model (the detector's own combination rule)."""
    def grade(row: Featurised) -> int:
        probability = model.probability(row.features)
        return combine(row.lexical, probability, model.thresholds_for(row.lexical.language)).tier
    return grade


def lexicon_grader(row: Featurised) -> int:
    """Tier of a featurised text by the lexicon alone (the detector before the classifier)."""
    return row.lexical.tier


def _pairs(rows: Sequence[Featurised], grade: Grader) -> list[tuple[int, int]]:
    return [(r.example.tier, grade(r)) for r in rows]


def _per_user(rows: Sequence[Featurised], grade: Grader) -> list[tuple[int, int]]:
    worst: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        cell = worst[row.example.group]
        cell[0] = row.example.tier
        cell[1] = max(cell[1], grade(row))
    return [(e, p) for e, p in worst.values()]


def _views(rows: Sequence[Featurised]) -> list[tuple[str, list[Featurised]]]:
    test = split(rows, "test")
    views = [("C-SSRS users never trained on (per post)", [r for r in test if r.example.source == "cssrs"]),
             ("GoEmotions test comments (everyday)", [r for r in test if r.example.source == "goemotions"])]
    for language in sorted({r.example.language for r in test if r.example.source == "authored"}):
        views.append((f"authored eval set ({language})",
                      [r for r in test if r.example.source == "authored" and r.example.language == language]))
    return views


def report_shipped(rows: Sequence[Featurised], model: RiskClassifier) -> None:
    """Section 1: the shipped model on every test split, beside the lexicon alone."""
    print(f"\n== 1. Shipped model ({len(model.weights)} weights; thresholds {_thresholds(model)}) on test splits ==")
    hybrid = hybrid_grader(model)
    for name, view in _views(rows):
        if view:
            _line("lexicon  " + name, _pairs(view, lexicon_grader))
            _line("hybrid   " + name, _pairs(view, hybrid))
    cssrs_test = [r for r in split(rows, "test") if r.example.source == "cssrs"]
    _line("lexicon  C-SSRS per user (worst post)", _per_user(cssrs_test, lexicon_grader))
    _line("hybrid   C-SSRS per user (worst post)", _per_user(cssrs_test, hybrid))


def _thresholds(model: RiskClassifier) -> str:
    return ", ".join(f"{k}: risk {t.risk:.2f} alert {t.alert:.2f} veto {t.veto:.2f}" for k, t in model.thresholds.items())


def report_cross_source(rows: Sequence[Featurised]) -> None:
    """Section 2: leave one source out of training, test on all of it."""
    print("\n== 2. Across sources: trained without a source, tested on all of it (thresholds from the others' "
          "validation splits) ==")
    held_out: list[tuple[str, Callable[[Example], bool]]] = [
        ("C-SSRS (train: GoEmotions + authored)", lambda e: e.source == "cssrs"),
        ("authored, every language (train: C-SSRS + GoEmotions)", lambda e: e.source == "authored"),
        ("authored en (train: the rest)", lambda e: e.source == "authored" and e.language == "en"),
        ("GoEmotions (train: C-SSRS + authored)", lambda e: e.source == "goemotions"),
    ]
    for name, is_held_out in held_out:
        kept = [r for r in rows if not is_held_out(r.example)]
        tested = [r for r in rows if is_held_out(r.example)]
        if not tested or not any(r.example.at_risk for r in kept):
            continue
        model = fit(split(kept, "train"), split(kept, "validation"))
        grade = hybrid_grader(model)
        by_language = Counter(r.example.language for r in tested)
        _line("lexicon  " + name, _pairs(tested, lexicon_grader))
        _line("hybrid   " + name, _pairs(tested, grade))
        if len(by_language) > 1:
            for language in sorted(by_language):
                _line(f"hybrid     … {language}", _pairs([r for r in tested if r.example.language == language], grade))


def report_hard_negatives(rows: Sequence[Featurised], model: RiskClassifier) -> None:
    """Section 3a: how often texts that contain risk words but are no risk still alert (tier >= 1)."""
    print("\n== 3. Hard negatives: false-alarm rate (tier >= 1), lexicon → hybrid ==")
    hybrid = hybrid_grader(model)
    test = split(rows, "test")
    groups: dict[str, list[Featurised]] = defaultdict(list)
    for row in test:
        example = row.example
        if example.tier != 0:
            continue
        if example.source == "authored" and example.note in HARD_NEGATIVE_NOTES:
            groups[f"{example.language} {example.note}"].append(row)
            groups[f"{example.language} all hard negatives"].append(row)
        elif example.source == "goemotions" and (row.lexical.matches or row.lexical.reasons):
            groups[f"{example.language} everyday comments with risk words"].append(row)
        if example.source == "cssrs":
            groups["en C-SSRS supportive posts (helping others)"].append(row)
    for name in sorted(groups):
        group = groups[name]
        before = sum(1 for r in group if lexicon_grader(r) >= 1) / len(group)
        after = sum(1 for r in group if hybrid(r) >= 1) / len(group)
        print(f"  {name:<52} n {len(group):5d}  {before:6.1%} → {after:6.1%}")


def report_confusion_and_errors(rows: Sequence[Featurised], model: RiskClassifier) -> None:
    """Section 3b: exact tiers and the 20 worst errors on the test splits."""
    hybrid = hybrid_grader(model)
    test = [r for r in split(rows, "test") if r.example.source != "goemotions"]
    confusion = Counter(_pairs(test, hybrid))
    print("\n== Confusion on C-SSRS + authored test texts (rows: expected tier, columns: predicted) ==")
    print("       " + " ".join(f"{p:6d}" for p in range(4)))
    for expected in range(4):
        print(f"  {expected}:   " + " ".join(f"{confusion[(expected, p)]:6d}" for p in range(4)))
    errors = []
    for row in split(rows, "test"):
        probability = model.probability(row.features)
        tier = hybrid(row)
        if (tier >= 1) != row.example.at_risk:
            errors.append((abs(probability - 0.5), probability, tier, row))
    errors.sort(key=lambda e: e[0], reverse=True)
    print("\n== The 20 worst errors (most confident wrong answers) ==")
    for _margin, probability, tier, row in errors[:20]:
        kind = "false alarm" if tier >= 1 else "missed     "
        text = " ".join(row.example.text.split())
        print(f"  {kind} p {probability:.2f} tier {tier} (label {row.example.tier}, {row.example.source} "
              f"{row.example.language} {row.example.note}): {text[:150]}")


def report_conversations(rows: Sequence[Featurised]) -> None:
    """Section 4: build-ups over several messages (authored eval groups) and benign windows."""
    groups: dict[str, list[Example]] = defaultdict(list)
    benign: list[Example] = []
    for row in split(rows, "test"):
        if ":group:" in row.example.group:
            groups[row.example.group].append(row.example)
        elif row.example.source == "authored" and row.example.tier == 0:
            benign.append(row.example)
    print("\n== 4. Conversations: alerts (tier >= 2) on a writer's window of messages ==")
    for language in sorted({g[0].language for g in groups.values()}):
        windows = [g for g in groups.values() if g[0].language == language]
        single = sum(1 for g in windows if max(detect(e.text, language).tier for e in g) >= 2)
        window = sum(1 for g in windows if detect_conversation([e.text for e in g], language).tier >= 2)
        print(f"  {language} build-ups (risk only in the whole): {len(windows)} windows, alerted by a single message "
              f"{single}, by the window {window}")
    for language in sorted({e.language for e in benign}):
        texts = [e.text for e in benign if e.language == language]
        triples = [texts[i:i + 3] for i in range(0, len(texts) - 2, 3)]
        quiet = [t for t in triples if max(detect(text, language).tier for text in t) < 2]
        alerts = sum(1 for t in quiet if detect_conversation(t, language).tier >= 2)
        print(f"  {language} windows of 3 tier-0 texts, none alerting alone, that alert as a window: {alerts}/{len(quiet)}")


def main() -> int:
    """Print every section."""
    rows = featurise(all_examples())
    model = load_classifier()
    print(f"texts: {len(rows)} by source/split: "
          + ", ".join(f"{s}/{p} {n}" for (s, p), n in sorted(Counter((r.example.source, r.example.split) for r in rows).items())))
    report_shipped(rows, model)
    report_cross_source(rows)
    report_hard_negatives(rows, model)
    report_conversations(rows)
    report_confusion_and_errors(rows, model)
    return 0

