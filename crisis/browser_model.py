"""The detector's data for the browser: what private rooms scan on the writer's own device.

A private room's messages are sealed before they leave the browser, so the server cannot scan
them (docs/private-rooms.md). The device runs the same detector instead: ``static/js/crisis/``
is a line-for-line port of ``crisis.normalize``, ``crisis.language``, ``crisis.lexicon``,
``crisis.classifier`` and ``crisis.detector``, and reads everything that is data from one JSON
file written here — the compiled lexicons (every normalised key with its entry, exactly what the
automata hold), the masked spellings the normaliser learnt from them, the classifier's weights and
thresholds, and the language identifier restricted to the covered languages.

The identifier (py3langid) is a DFA over UTF-8 bytes whose every state outputs the longest
feature ending there; its table is far too large to ship, so the features are recovered as byte
strings (the shortest path to the state that outputs each) and the browser finds the longest
feature ending at each byte itself — the same counts. Its per-language log-probabilities are
float16 already and ship as such, base64.

``tests/test_crisis_device_parity.py`` runs the JS port under node on the evaluation corpus and
checks the file is current (``sources_digest``). Rebuild with ``python -m crisis browser-model``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from crisis import normalize
from crisis.classifier import MAX_TOKENS, MODEL_FILE, load_classifier
from crisis.detector import CONVERSATION_JOINED_PROBABILITY, CONVERSATION_MIN_MESSAGES, CONVERSATION_MIN_PROBABILITY, SUPPORTED_LANGUAGES, _lexicons
from crisis.language import DEFAULT_LANGUAGE, FUNCTION_WORDS, SHORT_MESSAGE_WORDS, _identifier

OUTPUT = Path(__file__).resolve().parent.parent / "static" / "js" / "crisis" / "model.json"
_SOURCES = ("normalize.py", "lexicon.py", "detector.py", "classifier.py", "language.py", MODEL_FILE)


def sources_digest() -> str:
    """What the export depends on: the lexicons, the model, the code that reads them, py3langid."""
    digest = hashlib.sha256(version("py3langid").encode())
    files = resources.files("crisis")
    names = sorted(p.name for p in files.iterdir() if p.name.startswith("lexicon_") and p.name.endswith(".json"))
    for name in (*names, *_SOURCES):
        digest.update(name.encode() + b"\0" + (files / name).read_bytes())
    return digest.hexdigest()


def _lexicon_data(language: str) -> dict[str, Any]:
    lexicon = next(lex for lex in _lexicons(DEFAULT_LANGUAGE) if lex.language == language)
    entries = {key.strip(): [e.phrase, e.kind, e.tier, e.category, e.length, e.self_evident]
               for key, e in lexicon.automaton.items()}
    return {
        "entries": entries,
        "negations": sorted(lexicon.negations),
        "pseudo_negations": sorted(list(p) for p in lexicon.pseudo_negations),
        "self_markers": sorted(lexicon.self_markers),
        "other_subjects": sorted(lexicon.other_subjects),
        "longest": max(e.length for _key, e in lexicon.automaton.items()),
        "negation_window": lexicon.negation_window,
        "subject_window": lexicon.subject_window,
    }


def _identifier_data() -> dict[str, Any]:
    """The byte-n-gram features of py3langid (restricted to our languages) and their weights."""
    identifier = _identifier(SUPPORTED_LANGUAGES)
    nextmove = np.frombuffer(identifier.tk_nextmove, dtype=np.uint32)
    rowbase = np.asarray(identifier.tk_row, dtype=np.int64) << 8
    output = np.asarray(identifier.tk_output)
    paths: list[bytes | None] = [None] * len(output)
    paths[0] = b""
    frontier = np.array([0], dtype=np.int64)
    every_byte = np.arange(256)
    while len(frontier):  # breadth first: the first path to a state is its shortest
        following = nextmove[rowbase[frontier][:, None] + every_byte[None, :]]
        reached: list[int] = []
        for row, state in enumerate(frontier):
            for byte in np.nonzero(following[row])[0]:
                target = int(following[row][byte])
                if paths[target] is None:
                    paths[target] = paths[state] + bytes([int(byte)])  # type: ignore[operator]
                    reached.append(target)
        frontier = np.array(sorted(set(reached)), dtype=np.int64)
    features: dict[int, bytes] = {}
    for state, feature in enumerate(output.tolist()):
        path = paths[state]
        if feature >= 0 and path is not None and (feature not in features or len(path) < len(features[feature])):
            features[feature] = path
    order = sorted(features)
    table = np.asarray(identifier.nb_ptc, dtype=np.float16)[order]
    packed = b"".join(bytes([len(features[f])]) + features[f] for f in order)
    return {
        "classes": list(identifier.nb_classes),
        "prior": [float(x) for x in np.asarray(identifier.nb_pc, dtype=np.float32)],
        "features": base64.b64encode(packed).decode(),
        "weights_f16": base64.b64encode(table.astype("<f2").tobytes()).decode(),
    }


def build() -> dict[str, Any]:
    """The whole browser model as one JSON-ready dict."""
    lexicons = {lang: _lexicon_data(lang) for lang in SUPPORTED_LANGUAGES}  # loads them: fills the unmask table
    classifier = load_classifier()
    return {
        "sources_digest": sources_digest(),
        "languages": list(SUPPORTED_LANGUAGES),
        "default_language": DEFAULT_LANGUAGE,
        "short_message_words": SHORT_MESSAGE_WORDS,
        "function_words": {lang: sorted(words) for lang, words in FUNCTION_WORDS.items()},
        "normalize": {
            "unmask": dict(sorted(normalize._unmask.items())),
            "number_words": normalize._NUMBER_WORDS,
            "dose_units": sorted(normalize._DOSE_UNITS),
            "clause_punct": "".join(sorted(normalize._CLAUSE_PUNCT)),
            "leet": {chr(k): v for k, v in normalize._LEET.items()},
        },
        "lexicons": lexicons,
        "classifier": {**classifier.to_json(), "max_tokens": MAX_TOKENS},
        "conversation": {"min_probability": CONVERSATION_MIN_PROBABILITY,
                         "joined_probability": CONVERSATION_JOINED_PROBABILITY, "min_messages": CONVERSATION_MIN_MESSAGES},
        "identifier": _identifier_data(),
    }


def write(path: Path = OUTPUT) -> Path:
    """The JSON, and beside it the same bytes gzipped (8 MB → 1.4 MB), which the static route
    serves to every browser that accepts gzip: a phone on a mobile network fetches it when its
    person first opens a private room. ``mtime=0`` keeps a rebuild byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(build(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.write_bytes(data)
    compressed_copy(path).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return path


def compressed_copy(path: Path = OUTPUT) -> Path:
    return path.with_name(path.name + ".gz")
