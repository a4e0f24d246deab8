"""Build tiny but real Argos Translate packages for tests and benchmarks.

Each package is a genuine ``.argosmodel``: one top-level folder holding ``metadata.json``,
a SentencePiece model and a CTranslate2 Transformer, installed and run by argostranslate
exactly like a downloaded package. Instead of training (torch is not a dependency), the
Transformer's weights are *constructed* so that it translates word for word with a small
dictionary: the decoder's cross-attention at step ``p`` looks at source position ``p`` and the
output projection maps each source word to its dictionary translation. Outputs are therefore
deterministic ("hello friend" → "hola amigo"), so tests can assert on what a user would read.

How the weights work (model width ``3 * H``, one layer, one head):

* dims ``[0:H)`` hold a token's identity, ``[H:2H)`` its position, ``[2H:3H)`` the word the
  decoder copied from the source. Token and position vectors are balanced ±1 vectors, so every
  activation has mean 0 and variance 1 and the layer norms act as the identity.
* All self-attention and feed-forward outputs are zero; only cross-attention writes.
* Cross-attention: query = 4 × decoder position, key = encoder position (sharp attention on the
  same index), value = encoder token identity written into the "copied" dims.
* Projection row of target word ``w`` = sum of identities of the source words mapping to ``w``.
  Unknown words map to ``<unk>`` and CTranslate2's ``replace_unknowns`` copies the source piece.

Run ``python -m tests.argos_fixture OUT_DIR`` to write the packages somewhere by hand.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import ctranslate2
import numpy as np
import sentencepiece as spm
from ctranslate2.specs import transformer_spec

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "nl": "Dutch"}

# Parallel word lists: the n-th word of each language means the same thing. The last three make
# a risk phrase ("ik wil doden mezelf" → "i want kill myself") for crisis-scanning tests: Dutch has
# no crisis lexicon, so it is scanned through its English translation.
WORDS = {
    "en": "hello friend how are you today i feel sad tired good thanks we can talk later "
          "tonight help me please yes no it is want kill myself",
    "es": "hola amigo cómo estás tú hoy yo siento triste cansado bien gracias nosotros podemos "
          "hablar luego esta_noche ayuda me por_favor sí no eso es quiero matar a_mí_mismo",
    "fr": "bonjour ami comment vas tu aujourd'hui je sens triste fatigué bien merci nous pouvons "
          "parler plus_tard ce_soir aide moi s'il_vous_plaît oui non il est veux tuer moi-même",
    "nl": "hallo vriend hoe gaat je vandaag ik voel verdrietig moe goed bedankt wij kunnen "
          "praten straks vanavond hulp mij alsjeblieft ja nee het is wil doden mezelf",
}
assert len({len(words.split()) for words in WORDS.values()}) == 1, "the word lists must stay parallel"

# The word-level tokenizer keeps punctuation on its word: "friend." is a word of its own.
PUNCTUATION = ".,?!"

DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("en", "es"), ("es", "en"), ("fr", "en"))

HIDDEN = 128  # H above: width of each of the three subspaces
MAX_POSITIONS = 512  # longest sentence, in pieces, the fixture model accepts
QUERY_SCALE = 4.0  # sharpens cross-attention onto the matching source position
SEED = 20261101


def dictionary(from_code: str, to_code: str) -> dict[str, str]:
    """Word-for-word dictionary from one fixture language to another (with punctuation)."""
    pairs = dict(zip(WORDS[from_code].split(), WORDS[to_code].split()))
    return {s + mark: t + mark for s, t in pairs.items() for mark in ("", *PUNCTUATION)}


def _train_sentencepiece() -> bytes:
    """A word-level SentencePiece model over every fixture word (one vocabulary for all)."""
    sentences = [" ".join(word + mark for word in WORDS[code].split())
                 for code in sorted(WORDS) for mark in ("", *PUNCTUATION)]
    vocabulary = {word for sentence in sentences for word in sentence.split()}
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 3),
        model_writer=model,
        model_type="word",
        vocab_size=len(vocabulary) + 64,  # a ceiling: keep every word
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def _balanced_signs(rng: np.random.Generator, rows: int) -> np.ndarray:
    signs = np.ones((rows, HIDDEN), np.float32)
    signs[:, HIDDEN // 2:] = -1.0
    return rng.permuted(signs, axis=1)


def _build_model(vocabulary: list[str], mapping: dict[str, str], model_dir: Path) -> None:
    rng = np.random.default_rng(SEED)
    width = 3 * HIDDEN
    token_part, position_part, copied_part = (
        slice(0, HIDDEN), slice(HIDDEN, 2 * HIDDEN), slice(2 * HIDDEN, 3 * HIDDEN))
    identities = _balanced_signs(rng, len(vocabulary))
    positions = _balanced_signs(rng, MAX_POSITIONS)

    def zeros(rows: int, cols: int) -> np.ndarray:
        return np.zeros((rows, cols), np.float32)

    def identity_norm(norm) -> None:
        norm.gamma = np.ones(width, np.float32)
        norm.beta = np.zeros(width, np.float32)

    def linear(layer, weight: np.ndarray) -> None:
        layer.weight = weight
        layer.bias = np.zeros(weight.shape[0], np.float32)

    def silence(layer) -> None:
        identity_norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], zeros(3 * width, width))
        linear(layer.self_attention.linear[1], zeros(width, width))
        identity_norm(layer.ffn.layer_norm)
        linear(layer.ffn.linear_0, zeros(width, width))
        linear(layer.ffn.linear_1, zeros(width, width))

    spec = transformer_spec.TransformerSpec.from_config(1, 1)
    embeddings = zeros(len(vocabulary), width)
    embeddings[:, token_part] = identities
    encodings = zeros(MAX_POSITIONS, width)
    encodings[:, position_part] = positions
    for stack in (spec.encoder, spec.decoder):
        stack.scale_embeddings = False
        stack.position_encodings.encodings = encodings
        identity_norm(stack.layer_norm)
    spec.encoder.embeddings[0].weight = embeddings
    spec.decoder.embeddings.weight = embeddings.copy()
    for layer in spec.encoder.layer:
        silence(layer)
    for layer in spec.decoder.layer:
        silence(layer)
        attention = layer.attention
        identity_norm(attention.layer_norm)
        query = zeros(width, width)
        query[position_part, position_part] = QUERY_SCALE * np.eye(HIDDEN)
        linear(attention.linear[0], query)
        keys_values = zeros(2 * width, width)
        keys_values[position_part, position_part] = np.eye(HIDDEN)
        keys_values[width + 2 * HIDDEN: width + 3 * HIDDEN, token_part] = np.eye(HIDDEN)
        linear(attention.linear[1], keys_values)
        linear(attention.linear[2], np.eye(width, dtype=np.float32))

    index = {piece: i for i, piece in enumerate(vocabulary)}
    projection = zeros(len(vocabulary), width)
    for source_piece, i in index.items():
        target_piece = mapping.get(source_piece, source_piece)
        projection[index[target_piece], copied_part] += identities[i]
    linear(spec.decoder.projection, projection)

    # The encoder sees "</s>" last, so copying it ends the translation.
    spec.config.add_source_eos = True
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization="int8")
    model_dir.mkdir(parents=True)
    spec.save(str(model_dir))


def build_package(from_code: str, to_code: str, out_dir: Path) -> Path:
    """Write ``translate-<from>_<to>-fixture.argosmodel`` into ``out_dir`` and return its path."""
    sentencepiece_model = _train_sentencepiece()
    processor = spm.SentencePieceProcessor(model_proto=sentencepiece_model)
    vocabulary = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    mapping = {"▁" + s: "▁" + t for s, t in dictionary(from_code, to_code).items()}
    name = f"translate-{from_code}_{to_code}-fixture"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / name
        _build_model(vocabulary, mapping, root / "model")
        (root / "sentencepiece.model").write_bytes(sentencepiece_model)
        metadata = {
            "package_version": "0.1",
            "argos_version": "1.9",
            "type": "translate",
            "from_code": from_code,
            "from_name": LANGUAGE_NAMES[from_code],
            "to_code": to_code,
            "to_name": LANGUAGE_NAMES[to_code],
            "links": [],
        }
        (root / "metadata.json").write_text(json.dumps(metadata, indent=2))
        out_dir.mkdir(parents=True, exist_ok=True)
        archive = out_dir / f"{name}.argosmodel"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(root.rglob("*")):
                zipped.write(path, Path(name) / path.relative_to(root))
    return archive


def build_packages(out_dir: Path, pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS,
                   ) -> dict[tuple[str, str], Path]:
    """Build one package per direction; reuse files already built in ``out_dir``."""
    built = {}
    for from_code, to_code in pairs:
        existing = out_dir / f"translate-{from_code}_{to_code}-fixture.argosmodel"
        built[(from_code, to_code)] = (
            existing if existing.exists() else build_package(from_code, to_code, out_dir))
    return built


if __name__ == "__main__":
    for pair, path in build_packages(Path(sys.argv[1])).items():
        print("-".join(pair), path, f"{path.stat().st_size / 1024:.0f} KiB")
    print("ctranslate2", ctranslate2.__version__)
