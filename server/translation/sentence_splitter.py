"""Sentence splitting that never downloads anything.

argostranslate splits text into sentences before translating. Its default splitter (MiniSBD)
fetches an ONNX model from the internet at the first translation unless the package carries
one, so on an offline server the first chat message would fail. ``sentencex`` is rule based,
covers ~300 languages with no data files, and is quick on chat-sized text.
"""

from __future__ import annotations

from sentencex import segment


class RuleBasedSentencizer:
    """Implements argostranslate's ``ISentenceBoundaryDetectionModel`` (``split_sentences``)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def split_sentences(self, text: str) -> list[str]:
        return [sentence for sentence in segment(self.language, text) if sentence.strip()]

    def __str__(self) -> str:
        return f"RuleBasedSentencizer({self.language})"
