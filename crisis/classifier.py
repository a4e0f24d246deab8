"""The learned half of the hybrid detector: a linear model over word n-grams and lexicon findings.

Lexicons catch what people are expected to write; people in crisis mostly write something else
("everyone would be better off without me", "I'm done, sorry for everything"). A logistic
regression over the same canonical tokens the lexicon automata read catches those, and the
lexicon's own findings are features too, so what it learned about "a risk phrase inside a joke"
carries over to languages with little training data.

The model is one JSON file (``crisis/classifier_model.json``, built by ``python -m crisis train``):
feature → weight, a bias and per-language thresholds. It is small and plain on purpose: the same
file and these few lines of scoring will run in the browser for end-to-end encrypted rooms.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from crisis.normalize import CLAUSE_BOUNDARY

MODEL_FILE = "classifier_model.json"
MAX_TOKENS = 400  # longer texts are scored on their first 400 tokens: chat is far shorter


def token_features(words: Sequence[str]) -> list[str]:
    """Word unigrams and bigrams of canonical tokens, bigrams not crossing a clause boundary."""
    words = words[:MAX_TOKENS]
    features = [w for w in words if w != CLAUSE_BOUNDARY]
    previous = CLAUSE_BOUNDARY
    for word in words:
        if word != CLAUSE_BOUNDARY and previous != CLAUSE_BOUNDARY:
            features.append(previous + " " + word)
        previous = word
    return features


def lexicon_features(categories: Iterable[str]) -> list[str]:
    """Lexicon findings as features (``lex:active_ideation``, ``lex:figurative``, ``lex:negated`` …)."""
    return ["lex:" + c for c in categories]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Probability cut-offs of one language, chosen on a validation split (never on a test split).

    ``risk``: at or above, a message with no lexicon finding is tier 1. ``alert``: at or above,
    tier 2 (an alert). ``veto``: below it, a tier-1/2 lexicon finding is read as figurative
    speech, news, lyrics or talk about someone else and set to tier 0. Tier 3 is never vetoed.
    """

    risk: float
    alert: float
    veto: float

    @property
    def lexicon_only(self) -> bool:
        """Thresholds no probability reaches: the language is graded by its lexicon alone."""
        return self.risk > 1.0


@dataclass(frozen=True)
class RiskClassifier:
    """Logistic regression over binary features, each scaled by 1/sqrt(number of features)."""

    weights: dict[str, float]
    bias: float
    thresholds: dict[str, Thresholds]
    version: str

    def probability(self, features: Sequence[str]) -> float:
        """P(risk) of one text from its features."""
        if not features:
            return 1.0 / (1.0 + math.exp(-self.bias))
        seen = set(features)
        weights = self.weights
        total = 0.0
        for feature in seen:
            weight = weights.get(feature)
            if weight is not None:
                total += weight
        z = self.bias + total / math.sqrt(len(seen))
        if z < -30.0:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))

    def thresholds_for(self, language: str) -> Thresholds:
        """A language's thresholds, or the shared ones (``*``) when it has too little data of its own."""
        return self.thresholds.get(language) or self.thresholds["*"]

    def to_json(self) -> dict[str, Any]:
        """The model file's content."""
        return {
            "version": self.version,
            "bias": self.bias,
            "thresholds": {k: {"risk": t.risk, "alert": t.alert, "veto": t.veto} for k, t in self.thresholds.items()},
            "weights": self.weights,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "RiskClassifier":
        """Load the model file's content."""
        return cls(
            weights={k: float(v) for k, v in raw["weights"].items()},
            bias=float(raw["bias"]),
            thresholds={k: Thresholds(**v) for k, v in raw["thresholds"].items()},
            version=str(raw["version"]),
        )


@cache
def load_classifier() -> RiskClassifier:
    """The shipped model (once per process)."""
    text = (resources.files("crisis") / MODEL_FILE).read_text("utf-8")
    return RiskClassifier.from_json(json.loads(text))
