"""The browser's detector grades like the server's: private rooms are scanned on the writer's own
device (static/js/crisis/, data from crisis/browser_model.py), so the same message must reach the
same tier there as on the server, or consent to safety monitoring would mean less in a private room.

The corpus is the detector's held-out evaluation split (crisis/training/datasets.py): Reddit
C-SSRS posts, GoEmotions comments and the authored sets in six languages, each with its own
language as the writer's hint, as the live scan gives it.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess

import aiohttp
import pytest

from crisis.browser_model import OUTPUT, sources_digest
from crisis.detector import detect
from crisis.training.datasets import all_examples
from tests.conftest import unavailable
from tests.live_server import REPO

SCRIPT = REPO / "tests" / "js" / "crisis_parity.mjs"
PARITY_REQUIRED = 0.99


@pytest.fixture(scope="module")
def model() -> dict:
    return json.loads(OUTPUT.read_text("utf-8"))


def test_the_shipped_browser_model_was_built_from_the_current_lexicons_and_classifier(model):
    assert model["sources_digest"] == sources_digest(), "run: python -m crisis browser-model"


async def test_a_browser_that_accepts_gzip_downloads_the_model_compressed_and_identical(sqlite_server):
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(f"{sqlite_server.url}/static/js/crisis/model.json", headers={"Accept-Encoding": "gzip"}) as response:
            assert response.status == 200 and response.headers["Content-Encoding"] == "gzip"
            sent = await response.read()
    print(f"model: {OUTPUT.stat().st_size:,} bytes, sent gzipped as {len(sent):,}")
    assert len(sent) < OUTPUT.stat().st_size / 4
    assert gzip.decompress(sent) == OUTPUT.read_bytes(), "run: python -m crisis browser-model"


def test_the_browser_and_the_server_give_the_same_tier_on_the_evaluation_corpus(tmp_path):
    node = shutil.which("node")
    if node is None:
        unavailable("node")
    messages = [[e.text, e.language] for e in all_examples() if e.split == "test"]
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(messages), "utf-8")
    # The browser's grades are computed meanwhile, in node.
    with subprocess.Popen([node, str(SCRIPT), str(OUTPUT), str(corpus)], stdout=subprocess.PIPE, text=True) as proc:
        python_tiers = [detect(text, language).tier for text, language in messages]
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    browser_tiers = json.loads(out)
    assert len(browser_tiers) == len(messages) > 8000
    same = sum(a == b for a, b in zip(python_tiers, browser_tiers))
    different = [(m[0][:80], p, b) for m, p, b in zip(messages, python_tiers, browser_tiers) if p != b]
    print(f"parity: {same}/{len(messages)} messages graded alike ({same / len(messages):.2%})")
    assert same / len(messages) >= PARITY_REQUIRED, different[:20]
    alerting = [p for p in python_tiers if p >= 2]
    assert alerting, "the corpus holds risky messages"
