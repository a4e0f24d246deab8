"""Fit the crisis classifier and choose its thresholds: ``python -m crisis train``.

Training uses scikit-learn (a build-time tool, in the ``training`` extra); the result is plain
JSON read by crisis/classifier.py without it. Features are computed by the detector itself
(``crisis.detector.analyse``), so training and serving can never featurise differently.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crisis.classifier import MODEL_FILE, RiskClassifier, Thresholds
from crisis.detector import Analysis, Detection, analyse, combine
from crisis.training.datasets import Example, all_examples

MODEL_PATH = Path(__file__).resolve().parent.parent / MODEL_FILE
MIN_FEATURE_COUNT = 2  # a feature seen in one training text only is noise, and bloats the file
WEIGHT_FLOOR = 0.02  # smaller weights change no decision measurably; dropped to keep the file small
REGULARISATION_C = 4.0
# Everyday comments vastly outnumber risk posts; this is their total weight relative to the risk
# examples, so the model learns "not a risk" without learning "short text = safe".
EVERYDAY_WEIGHT = 1.0
MIN_PRECISION = 0.75  # thresholds maximise F1 among cut-offs at least this precise (validation)
# The classifier alone raises an alert (tier 2) only where, on validation, at least this share of
# the texts it scores as high are tier 2 or 3 (active ideation and beyond) and not merely tier 1.
ALERT_PRECISION = 0.8
ALERT_MIN_TEXTS = 20
# Silencing a lexicon finding needs a confident "no": above this the finding always stands.
MAX_VETO = 0.25
LEXICON_ONLY = Thresholds(risk=1.01, alert=1.01, veto=0.0)
OWN_THRESHOLDS_MIN = 60  # validation texts a language needs to get thresholds of its own


@dataclass(frozen=True, slots=True)
class Featurised:
    """An example with the lexicon's grade and the classifier's features."""

    example: Example
    lexical: Detection
    features: list[str]


def featurise(examples: Sequence[Example]) -> list[Featurised]:
    """Run the detector's lexicon pass on every example, trusting its labelled language."""
    out = []
    for example in examples:
        analysis = analyse(example.text, example.language, trust_language=True)
        if isinstance(analysis, Analysis):
            out.append(Featurised(example, analysis.lexical, analysis.features))
    return out


def _sample_weights(rows: Sequence[Featurised]) -> list[float]:
    at_risk = sum(1 for r in rows if r.example.at_risk) or 1
    everyday = sum(1 for r in rows if r.example.source == "goemotions") or 1
    scale = EVERYDAY_WEIGHT * at_risk / everyday
    return [scale if r.example.source == "goemotions" else 1.0 for r in rows]


def fit(train: Sequence[Featurised], validation: Sequence[Featurised], version: str = "dev") -> RiskClassifier:
    """Logistic regression on ``train``; thresholds per language on ``validation``."""
    from scipy.sparse import csr_matrix  # build-time tools only
    from sklearn.linear_model import LogisticRegression

    counts = Counter(f for row in train for f in set(row.features))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= MIN_FEATURE_COUNT))}
    data, indices, indptr = [], [], [0]
    for row in train:
        seen = set(row.features)
        value = 1.0 / math.sqrt(len(seen)) if seen else 0.0
        for feature in seen:
            index = vocabulary.get(feature)
            if index is not None:
                indices.append(index)
                data.append(value)
        indptr.append(len(indices))
    matrix = csr_matrix((data, indices, indptr), shape=(len(train), len(vocabulary)))
    labels = [int(row.example.at_risk) for row in train]
    model = LogisticRegression(C=REGULARISATION_C, max_iter=2000, solver="liblinear")
    model.fit(matrix, labels, sample_weight=_sample_weights(train))
    names = sorted(vocabulary, key=vocabulary.__getitem__)
    weights = {name: round(float(w), 4) for name, w in zip(names, model.coef_[0]) if abs(w) >= WEIGHT_FLOOR}
    provisional = RiskClassifier(weights, float(model.intercept_[0]), {}, version)
    return RiskClassifier(weights, provisional.bias, choose_thresholds(provisional, validation), version)


def _f1_at(rows: Sequence[tuple[Featurised, float]], thresholds: Thresholds) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for row, probability in rows:
        predicted = combine(row.lexical, probability, thresholds).tier >= 1
        actual = row.example.at_risk
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _choose(rows: Sequence[tuple[Featurised, float]]) -> Thresholds:
    grid = [i / 100 for i in range(5, 96, 5)]
    best: tuple[float, Thresholds] | None = None
    for risk in grid:
        for veto in (v for v in grid if v <= min(risk, MAX_VETO)):
            thresholds = Thresholds(risk=risk, alert=1.0, veto=veto)
            precision, _recall, f1 = _f1_at(rows, thresholds)
            score = f1 if precision >= MIN_PRECISION else f1 - 1.0
            if best is None or score > best[0]:
                best = (score, thresholds)
    assert best is not None
    chosen = best[1]
    alert = 0.99
    for candidate in sorted({p for _r, p in rows if p >= chosen.risk}):
        above = [r.example.tier >= 2 for r, p in rows if p >= candidate]
        if len(above) >= ALERT_MIN_TEXTS and sum(above) / len(above) >= ALERT_PRECISION:
            alert = max(candidate, chosen.risk)
            break
    return Thresholds(risk=chosen.risk, alert=round(alert, 4), veto=chosen.veto)


def choose_thresholds(model: RiskClassifier, validation: Sequence[Featurised]) -> dict[str, Thresholds]:
    """Per-language cut-offs that maximise validation F1 at precision >= MIN_PRECISION."""
    scored = [(row, model.probability(row.features)) for row in validation]
    # A language without validation data of its own is graded by its lexicon alone: thresholds
    # learnt on other languages would veto its findings on words the model has never seen.
    thresholds = {"*": LEXICON_ONLY}
    for language in sorted({row.example.language for row in validation}):
        rows = [(r, p) for r, p in scored if r.example.language == language]
        if len(rows) >= OWN_THRESHOLDS_MIN and any(r.example.at_risk for r, _ in rows):
            thresholds[language] = _choose(rows)
    return thresholds


def split(rows: Sequence[Featurised], name: str) -> list[Featurised]:
    """Rows of one split."""
    return [r for r in rows if r.example.split == name]


def train_shipped_model() -> RiskClassifier:
    """Train on every source's train split and write crisis/classifier_model.json."""
    rows = featurise(all_examples())
    digest = Counter(r.example.source for r in rows)
    version = "sources " + ", ".join(f"{k} {v}" for k, v in sorted(digest.items()))
    model = fit(split(rows, "train"), split(rows, "validation"), version)
    MODEL_PATH.write_text(json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True, indent=0) + "\n", "utf-8")
    return model
