"""Offline translation of chat messages with real Argos Translate packages.

The packages are built by ``tests/argos_fixture.py``: real ``.argosmodel`` files whose
CTranslate2 model translates word for word ("hello friend" → "hola amigo"), installed with
the real CLI in a separate process, exactly as an operator would.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from server.core.config import Settings
from server.translation.cli import main as translation_cli
from server.translation.language_id import detect_language
from server.translation.translator import NOTE_NO_PACKAGE, Translator
from tests.argos_fixture import build_packages
from tests.conftest import unavailable

REPO = Path(__file__).resolve().parent.parent


def run_cli(data_dir: Path, *args: str, extra_env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MV_DATA_DIR": str(data_dir), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "server.translation.cli", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def package_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return build_packages(tmp_path_factory.mktemp("argos-packages"))


@pytest.fixture(scope="session")
def installed_settings(tmp_path_factory: pytest.TempPathFactory,
                       package_files: dict[tuple[str, str], Path]) -> Settings:
    data_dir = tmp_path_factory.mktemp("translation-data")
    result = run_cli(data_dir, "install", *map(str, package_files.values()))
    assert result.returncode == 0, result.stderr
    return Settings(data_dir=str(data_dir))


@pytest.fixture
async def translator(installed_settings: Settings):
    translator = Translator(installed_settings)
    yield translator
    translator.close()


def test_an_operator_installs_packages_with_the_cli_and_lists_them(
        tmp_path: Path, package_files: dict[tuple[str, str], Path]) -> None:
    installed = run_cli(tmp_path, "install", *map(str, package_files.values()))
    assert installed.returncode == 0, installed.stderr
    assert "installed en -> es (English -> Spanish" in installed.stdout

    listed = run_cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    pairs = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert pairs == ["en -> es", "es -> en", "fr -> en"]
    print(listed.stdout)


def test_listing_in_process_goes_through_the_same_command(
        installed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert translation_cli(["list"], installed_settings) == 0
    assert "fr -> en\tFrench -> English" in capsys.readouterr().out


def test_a_flat_zip_is_refused_before_it_can_break_the_package_list(tmp_path: Path) -> None:
    flat = tmp_path / "flat.argosmodel"
    with zipfile.ZipFile(flat, "w") as zipped:
        zipped.writestr("metadata.json", "{}")
        zipped.writestr("sentencepiece.model", "")
    refused = run_cli(tmp_path / "data", "install", str(flat))
    assert refused.returncode == 1
    assert "exactly one top-level folder" in refused.stderr
    assert run_cli(tmp_path / "data", "list").stdout.startswith("no translation packages")


async def test_an_english_message_reaches_a_spanish_reader_in_spanish(
        translator: Translator) -> None:
    result = await translator.translate("hello friend how are you", "en", "es")
    assert result.translated is True
    assert result.note is None
    assert result.text == "hola amigo cómo estás tú"


async def test_french_reaches_spanish_through_english_when_no_direct_package_exists(
        translator: Translator) -> None:
    assert ("fr", "es") in await translator.available_pairs()
    result = await translator.translate("bonjour ami", "fr", "es")
    assert (result.text, result.translated) == ("hola amigo", True)


async def test_a_pair_without_a_package_shows_the_original_with_a_note(
        translator: Translator) -> None:
    for source, target in [("en", "de"), ("es", "fr")]:
        result = await translator.translate("hola amigo", source, target)
        assert result.text == "hola amigo"
        assert result.translated is False
        assert result.note == NOTE_NO_PACKAGE


async def test_each_target_language_is_translated_once_however_many_recipients_read_it(
        translator: Translator) -> None:
    recipients_languages = ["en", "es", "es", "en", "es", "fr"]
    first = await translator.translate_for_targets("bonjour ami", "fr",
                                                   set(recipients_languages))
    assert first["en"].text == "hello friend"
    assert first["es"].text == "hola amigo"
    assert first["fr"].translated is False  # the sender's own language
    assert translator.cache_stats().misses == 2

    # The same text in another room, and five simultaneous requests: no new model runs.
    await translator.translate_for_targets("bonjour ami", "fr", {"en", "es"})
    await asyncio.gather(*(translator.translate("bonjour ami", "fr", "es") for _ in range(5)))
    stats = translator.cache_stats()
    print(f"cache after 3 deliveries: {stats}")
    assert stats.misses == 2
    assert stats.hits == 7


async def test_simultaneous_first_requests_share_one_model_run(translator: Translator) -> None:
    results = await asyncio.gather(
        *(translator.translate("thanks friend", "en", "es") for _ in range(4)))
    assert {r.text for r in results} == {"gracias amigo"}
    assert translator.cache_stats().misses == 1


async def test_the_event_loop_keeps_serving_while_a_long_message_is_translated(
        translator: Translator) -> None:
    await translator.translate("hello", "en", "es")  # load the model first
    long_message = " ".join(["hello friend, how are you today? i feel sad."] * 90)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    result = await translator.translate(long_message, "en", "es")
    ticking.cancel()
    print(f"{len(long_message)} characters translated while the loop ticked {ticks} times")
    assert result.translated and result.text.startswith("hola amigo, cómo estás tú hoy? yo siento triste. hola")
    assert ticks >= 5


async def test_user_names_with_underscores_survive_translation(translator: Translator) -> None:
    result = await translator.translate("hello mood_buddy_42 thanks", "en", "es")
    assert result.text == "hola mood_buddy_42 gracias"


async def test_no_message_text_reaches_the_logs(
        translator: Translator, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        await translator.translate("i feel sad tonight", "en", "es")
    assert "sad" not in caplog.text and "triste" not in caplog.text


async def test_sentences_and_paragraphs_keep_their_shape(translator: Translator) -> None:
    result = await translator.translate("hello friend. thanks!\n\nhow are you", "en", "es")
    assert result.text == "hola amigo. gracias!\n\ncómo estás tú"


@pytest.mark.netns
def test_translation_works_with_no_network_and_downloads_nothing(
        installed_settings: Settings, tmp_path: Path) -> None:
    """In a fresh network namespace (no route anywhere) the first translation still works,
    while argostranslate's default sentence splitter fails there trying to download its model."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("root and unshare (to cut the network)")
    script = textwrap.dedent(f"""
        import asyncio
        from server.core.config import Settings
        from server.translation.translator import Translator

        async def main():
            translator = Translator(Settings(data_dir={installed_settings.data_dir!r}))
            result = await translator.translate("hello friend. how are you?", "en", "es")
            print("TRANSLATED", result.translated, result.text)
            translator.close()
            import argostranslate.package
            from argostranslate.sbd import MiniSBDSentencizer
            package = next(p for p in argostranslate.package.get_installed_packages()
                           if p.from_code == "en")
            try:
                MiniSBDSentencizer(package).split_sentences("Hi. There.")
                print("DEFAULT SPLITTER OK")
            except Exception as error:
                print("DEFAULT SPLITTER FAILED", type(error).__name__)

        asyncio.run(main())
    """)
    home = tmp_path / "home"
    home.mkdir()
    run = subprocess.run(["unshare", "--net", sys.executable, "-c", script], cwd=REPO,
                         env={**os.environ, "HOME": str(home)}, capture_output=True, text=True,
                         timeout=120)
    print(run.stdout, run.stderr[-2000:])
    assert "TRANSLATED True hola amigo. cómo estás tú?" in run.stdout
    assert "DEFAULT SPLITTER FAILED" in run.stdout
    downloaded = [p for p in home.rglob("*.onnx")]
    assert downloaded == []


def test_a_message_language_is_guessed_among_our_languages() -> None:
    ours = ("en", "es", "fr")
    assert detect_language("hola, ¿cómo estás hoy? me siento un poco triste", "en", ours) == "es"
    assert detect_language("je suis très fatigué ce soir, on peut parler ?", None, ours) == "fr"
    assert detect_language("I feel really tired tonight, can we talk?", "es", ours) == "en"


def test_a_very_short_message_is_taken_to_be_in_the_senders_language() -> None:
    ours = ("en", "es", "fr")
    assert detect_language("ok", "es", ours) == "es"
    assert detect_language("no :(", "fr", ours) == "fr"
    assert detect_language("ok", "de", ours) in ours
