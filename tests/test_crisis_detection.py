"""Specification of the crisis risk-phrase detector, the `python -m crisis scan` CLI and the hotline list.

Run with `pytest -rA tests/test_crisis_detection.py` to see the precision/recall report printed by
the evaluation tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from crisis.classifier import load_classifier
from crisis.detector import NOT_COVERED_REASON, SUPPORTED_LANGUAGES, Detection, detect, detect_conversation
from crisis.hotlines import hotlines_for, load_hotlines, stale_entries
from crisis.training.datasets import cssrs

REPO = Path(__file__).resolve().parents[1]
LABELLED = Path(__file__).parent / "data" / "crisis"


def tier(text: str, language: str | None = None) -> int:
    return detect(text, language).tier


# --- tiers grounded in the Columbia scale ---------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("how was your day?", 0),
    ("I wish I was dead", 1),
    ("everyone would be better off without me", 2),  # burden: the classifier lifts it to an alert
    ("I feel so hopeless", 1),
    ("I want to kill myself", 2),
    ("I've been thinking of jumping", 2),
    ("I saved up my pills", 3),
    ("took 30 tylenol", 3),
    ("I wrote a note and I want to die", 3),
    ("I bought a rope", 3),
    ("I want to kill myself tonight", 3),
    ("I tried to kill myself last year", 3),
])
def test_a_message_is_graded_on_the_columbia_scale(text: str, expected: int) -> None:
    assert tier(text, "en") == expected


def test_an_ordinary_dose_is_not_an_overdose() -> None:
    assert tier("took 2 tylenol for my headache", "en") == 0
    assert tier("took 30 tylenol", "en") == 3


def test_means_words_alone_do_not_alert_but_raise_risk_talk_to_tier_3() -> None:
    assert tier("picking up my pills tonight", "en") < 2
    assert tier("I want to die, I have the pills right here", "en") == 3


def test_each_result_says_tier_matches_language_and_why() -> None:
    result = detect("i want to k1ll myself tonight")
    assert isinstance(result, Detection)
    assert result.tier == 3
    assert result.language == "en"
    assert "want to kill myself" in result.matches and "tonight" in result.matches
    assert any("active ideation" in reason for reason in result.reasons)
    assert any("time" in reason for reason in result.reasons)
    assert result.negated is False
    assert result.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert set(result.to_dict()) >= {"tier", "language", "matches", "reasons", "negated"}


def test_the_excerpt_quotes_the_original_text_around_the_strongest_match() -> None:
    text = ("so today I went to class and then to work and then I had dinner with my roommates and "
            "they were loud and honestly I have saved up my pills and I think this is it, anyway "
            "how was your weekend, did you go to the lake with your sister like you planned?")
    excerpt = detect(text, "en").excerpt(max_chars=80)
    assert len(excerpt) <= 80
    assert "saved up my pills" in excerpt
    assert detect("I want to die", "en").excerpt() == "I want to die"


# --- robustness to how people write ---------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "I WANT TO KILL MYSELF",
    "i want to kiiiiill myselfff",
    "i want to k1ll mys3lf",
    "i want to k*ll myself",
    "i want to k.i.l.l myself",
    "i want to k i l l myself",
    "i want to kill myself!!!",
])
def test_spelling_tricks_do_not_hide_active_ideation(text: str) -> None:
    assert tier(text, "en") == 2


@pytest.mark.parametrize("text, expected", [
    ("su1c1dal thoughts again", 2),
    ("thinking about $uicide", 2),
    ("thinking about sewer slide", 2),
    ("i want to unalive myself", 2),
    ("kms", 2),
    ("honestly kms", 2),
    ("I just want to end it all", 2),
    ("i wish i could go to sleep and not wake up", 1),
])
def test_euphemisms_slang_and_leet_are_understood(text: str, expected: int) -> None:
    assert tier(text, "en") == expected


def test_kys_aimed_at_someone_else_is_harassment_not_self_risk() -> None:
    result = detect("kys loser", "en")
    assert result.tier == 0
    assert result.harassment is True
    assert any("harassment" in reason for reason in result.reasons)


@pytest.mark.parametrize("text, language, expected", [
    ("I'm not going to kill myself", "en", 1),
    ("I would never hurt myself", "en", 1),
    ("i don't want to die", "en", 1),
    ("i'm not suicidal", "en", 1),
    ("no me voy a matar", "es", 1),
    ("nunca me haría daño", "es", 1),
    ("jamás me quitaría la vida", "es", 1),
    ("tampoco pienso en matarme", "es", 1),
])
def test_negation_lowers_the_tier_but_never_silences(text: str, language: str, expected: int) -> None:
    result = detect(text, language)
    assert result.tier == expected
    assert result.negated is True
    assert any("negated" in reason for reason in result.reasons)


@pytest.mark.parametrize("text, language", [
    ("this exam is killing me", "en"),
    ("I could die of embarrassment", "en"),
    ("my feet are killing me", "en"),
    ("dying to see that movie", "en"),
    ("she killed it on stage", "en"),
    ("kill the lights please", "en"),
    ("I want to die of embarrassment lol", "en"),
    ("if you're thinking about suicide, call 988", "en"),
    ("September is suicide prevention month", "en"),
    ("me muero de risa", "es"),
    ("me muero de hambre", "es"),
    ("me mata este examen", "es"),
    ("me voy a cortar el pelo mañana", "es"),
    ("hoy hablamos de prevención del suicidio en clase", "es"),
])
def test_figurative_and_supportive_talk_does_not_alert(text: str, language: str) -> None:
    assert tier(text, language) == 0


# --- languages ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("quiero morirme", 1),
    ("QUIERO MORIIIR", 1),
    ("todos estarían mejor sin mí", 1),
    ("todos estarian mejor sin mi", 1),
    ("me quiero matar", 2),
    ("quiero m4t4rme", 2),
    ("pienso en suicidarme", 2),
    ("me voy a matar esta noche", 3),
    ("me tomé 30 pastillas", 3),
    ("ya tengo las pastillas guardadas", 3),
    ("compré una cuerda", 3),
])
def test_spanish_is_covered_natively_with_or_without_accents(text: str, expected: int) -> None:
    result = detect(text, "es")
    assert result.tier == expected
    assert result.language == "es"


def test_language_is_identified_when_not_given() -> None:
    assert detect("no puedo más, siento que todos estarían mejor sin mí").language == "es"
    assert detect("I can't take it anymore, everyone would be better off without me").language == "en"


def test_a_short_message_keeps_the_callers_language() -> None:
    result = detect("kms", "es")
    assert result.language == "es" and result.language_source == "caller"
    assert result.tier == 2  # every native lexicon is scanned whatever the language


def test_a_language_not_covered_natively_asks_for_an_english_translation() -> None:
    result = detect("ik wil niet meer leven", "nl-NL")
    assert result.tier == 0
    assert result.language == "nl"
    assert any(NOT_COVERED_REASON in reason for reason in result.reasons)
    translated = detect("I want to die", "en", trust_language=True)
    assert translated.tier >= 1 and translated.language_source == "caller"
    assert "nl" not in SUPPORTED_LANGUAGES


# --- the hybrid detector: what the lexicon alone missed or over-read --------------------------------

def test_feeling_a_burden_to_everyone_alerts() -> None:
    result = detect("Everyone would be better off without me", "en")
    assert result.tier >= 2
    assert result.probability is not None and any("classifier" in r for r in result.reasons)


def test_implicit_ideation_without_lexicon_words_is_not_tier_0() -> None:
    for text in ("i'm so done with all of this, sorry for everything", "i don't see myself being here next year"):
        assert tier(text, "en") >= 1, text


def test_dark_humour_with_a_risk_word_stays_below_the_alert_tier() -> None:
    result = detect("kms lol this exam", "en")
    assert result.tier < 2
    assert "kms" in " ".join(result.reasons)  # the finding is explained, not hidden


def test_a_tier_3_finding_is_never_overruled_by_the_classifier() -> None:
    assert tier("lol I took 30 tylenol", "en") == 3


@pytest.mark.parametrize("text, language", [
    ("je vais me tuer ce soir", "fr"),
    ("Ich will mich heute Nacht umbringen, ich habe die Tabletten", "de"),
    ("vou me matar hoje à noite", "pt"),
    ("stasera mi ammazzo, ho già le pillole", "it"),
])
def test_french_german_portuguese_and_italian_alert_without_any_translation_package(text: str, language: str) -> None:
    assert language in SUPPORTED_LANGUAGES
    assert tier(text, language) >= 2
    assert tier(text) >= 2  # also with no hint: every native lexicon is scanned


def test_risk_that_builds_over_three_messages_alerts_although_no_single_one_does() -> None:
    messages = ["I'm so tired of everything", "nothing I do matters anymore", "I can't keep doing this, what's the point"]
    assert [tier(m, "en") < 2 for m in messages] == [True, True, True]
    window = detect_conversation(messages, "en")
    assert window.tier >= 2
    assert any("built up" in r for r in window.reasons)


def test_an_ordinary_conversation_does_not_alert_as_a_window() -> None:
    assert detect_conversation(["hey", "exam went ok I think", "want to grab food later?"], "en").tier == 0


def test_the_profile_language_is_trusted_unless_the_text_disagrees() -> None:
    assert detect("no quiero seguir viviendo así", "es").language_source == "caller"
    mismatch = detect("I really do not want to be here anymore, it is too much", "es")
    assert mismatch.language == "en" and mismatch.language_source == "identified"


def test_the_model_ships_small_and_loads_offline() -> None:
    path = REPO / "crisis" / "classifier_model.json"
    assert path.stat().st_size <= 20_000_000
    model = load_classifier()
    assert "en" in model.thresholds and 0.0 < model.thresholds["en"].risk < 1.0


# --- CLI ------------------------------------------------------------------------------------------

def test_cli_scan_writes_one_json_object_per_input_line() -> None:
    lines = ["i want to k1ll myself tonight", "this exam is killing me", "me quiero morir", "", "je veux mourir"]
    done = subprocess.run(
        [sys.executable, "-m", "crisis", "scan"], input="\n".join(lines) + "\n",
        capture_output=True, text=True, timeout=60, check=True, cwd=REPO,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(lines)
    assert [r["tier"] for r in results[:3]] == [3, 0, 1]
    assert results[2]["language"] == "es"
    assert all({"tier", "language", "matches", "reasons"} <= set(r) for r in results)


def test_cli_scan_with_a_language_not_covered_says_so() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crisis", "scan", "--lang", "nl"], input="ik wil niet meer leven\n",
        capture_output=True, text=True, timeout=60, check=True, cwd=REPO,
    )
    result = json.loads(done.stdout)
    assert result["tier"] == 0 and result["language"] == "nl"
    assert NOT_COVERED_REASON in result["reasons"][0]


# --- hotlines -------------------------------------------------------------------------------------

def test_every_hotline_names_its_source_and_when_it_was_checked() -> None:
    for line in load_hotlines():
        assert line.source.startswith("http"), line
        assert line.verified is False or isinstance(line.last_verified, date), line
        assert line.phone or line.text or line.country == "INTL", line


def test_required_countries_and_numbers_are_present() -> None:
    numbers = {h.country: set(h.phone) | set(h.text) for h in load_hotlines()}
    for country, h in [(h.country, h) for h in load_hotlines()]:
        numbers[country] |= set(h.phone) | set(h.text)
    assert "988" in numbers["US"]
    assert "116 123" in numbers["GB"]
    assert {"116 123", "50808"} <= numbers["IE"]
    assert "988" in numbers["CA"]
    assert "024" in numbers["ES"]
    assert "800 911 2000" in numbers["MX"]
    assert "13 11 14" in numbers["AU"]
    assert len({h.country for h in load_hotlines()} - {"US", "GB", "IE", "CA", "ES", "MX", "AU", "INTL"}) >= 10
    assert all(h.emergency for h in load_hotlines() if h.country != "INTL")


def test_hotlines_are_chosen_by_country_then_locale_region_then_language() -> None:
    assert [h.country for h in hotlines_for("mx", None)][0] == "MX"
    assert hotlines_for("MX", "en-GB")[0].country == "MX"
    assert hotlines_for(None, "en-GB")[0].country == "GB"
    assert hotlines_for(None, "es_AR")[0].country == "AR"
    assert {h.country for h in hotlines_for(None, "es")} == {"ES", "MX", "INTL"}
    assert [h.country for h in hotlines_for(None, "xx")] == ["INTL"]
    assert [h.country for h in hotlines_for("ZZ", None)] == ["INTL"]
    assert hotlines_for(None, None)[-1].url == "https://findahelpline.com"


def test_stale_and_unconfirmed_entries_are_reported() -> None:
    newest = max(h.last_verified for h in load_hotlines() if h.last_verified)
    unconfirmed = {h.service for h in load_hotlines() if not h.verified}
    now = {h.service for h in stale_entries(newest)}
    assert now == unconfirmed
    later = {h.service for h in stale_entries(newest + timedelta(days=400))}
    assert later == {h.service for h in load_hotlines()}
    print(f"\nhotlines: {len(load_hotlines())} entries, {len(unconfirmed)} not confirmed: {sorted(unconfirmed)}")


# --- evaluation: printed precision/recall with regression floors ----------------------------------

def _load_labelled(language: str) -> list[dict]:
    with (LABELLED / f"{language}.jsonl").open(encoding="utf-8") as rows:
        return [json.loads(row) for row in rows]


def _report(title: str, pairs: list[tuple[int, int]]) -> dict[int, tuple[float, float]]:
    """Print precision/recall of "tier >= t" for t = 1..3 and the exact-tier confusion matrix."""
    scores: dict[int, tuple[float, float]] = {}
    print(f"\n== {title}: {len(pairs)} items ==")
    for threshold in (1, 2, 3):
        tp = sum(1 for e, p in pairs if e >= threshold and p >= threshold)
        fp = sum(1 for e, p in pairs if e < threshold <= p)
        fn = sum(1 for e, p in pairs if p < threshold <= e)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        scores[threshold] = (precision, recall)
        print(f"tier>={threshold}: precision {precision:.2f} recall {recall:.2f} (tp {tp} fp {fp} fn {fn})")
    confusion = Counter(pairs)
    print("confusion (rows expected 0-3, columns predicted 0-3):")
    for expected in range(4):
        print(f"  {expected}: " + " ".join(f"{confusion[(expected, p)]:4d}" for p in range(4)))
    return scores


@pytest.mark.parametrize("language", ["en", "es"])
def test_labelled_chat_set_meets_recall_floor_with_no_figurative_alarms(language: str) -> None:
    rows = _load_labelled(language)
    assert len(rows) >= (150 if language == "en" else 100)
    results = [(row, detect(row["text"], row["language"])) for row in rows]
    scores = _report(f"labelled chat set ({language})", [(r["expected_tier"], d.tier) for r, d in results])
    misses = [(r["expected_tier"], d.tier, r["text"]) for r, d in results if r["expected_tier"] != d.tier]
    print("disagreements:", *misses, sep="\n  ")
    figurative_alarms = [r["text"] for r, d in results if r["note"].startswith("figurative") and d.tier > 0]
    assert figurative_alarms == []
    assert scores[2][1] >= 0.95
    assert scores[1][1] >= 0.95
    assert scores[1][0] >= 0.9


def test_reddit_cssrs_users_never_trained_on_are_graded_close_to_the_psychiatrists() -> None:
    """Per-user agreement with psychiatrist labels on Reddit C-SSRS users held out of training.

    Label mapping (crisis/training/datasets.py): Supportive → 0 (people helping others: hard
    negatives), Indicator → 1, Ideation → 2, Behavior and Attempt → 3. A user's predicted tier is
    the worst of their posts, as a moderator would see it. The full figures, across sources, are
    printed by ``python -m crisis evaluate``; these floors only guard against regressions.
    """
    worst: dict[str, list[int]] = {}
    for example in cssrs():
        if example.split != "test":
            continue
        cell = worst.setdefault(example.group, [example.tier, 0])
        cell[1] = max(cell[1], detect(example.text, "en").tier)
    pairs = [(expected, predicted) for expected, predicted in worst.values()]
    assert len(pairs) >= 80
    scores = _report("Reddit C-SSRS users never trained on, per user (worst post)", pairs)
    assert scores[1][0] >= 0.75 and scores[1][1] >= 0.9
    assert scores[2][0] >= 0.65 and scores[2][1] >= 0.75


