"""What a person who wrote a risky message receives at once: crisis lines for where they are, and a
few gentle words in their own language.

The lines come from the hotline directory (``crisis.hotlines``), chosen by the person's country,
else their locale. The card shows only what helps the person now: who to call or text, and when
they answer. How and when each number was checked (``verified``, ``last_verified``, ``source``,
``notes``) stays in the data file, for the people who maintain
it (``stale_entries``): a note such as "not confirmed recently" helps nobody in a crisis, and an unconfirmed number is
still shown (a possibly stale number beats no number). Every sentence comes from the server's
translation catalogs in the person's language, so it is reviewed with the rest of the interface.
"""

from __future__ import annotations

from typing import Any

from crisis.hotlines import Hotline, hotlines_for
from server.core.i18n import N_, Gettext, gettext_for, negotiate_locale

# Detector tier from which a responder is alerted (tier 1 only offers resources and flags mentors).
ALERT_TIER = 2
OPEN_ALL_HOURS = N_("Open 24 hours, every day")
# The directory's opening-hours codes, as the card says them.
HOURS = {"24/7": OPEN_ALL_HOURS}
# The international directory is the one line every card can show: its name is said in the
# person's language (a country's own line keeps its own name).
DIRECTORY_SERVICE = N_("Find A Helpline (international directory of crisis lines)")


def hotline_view(line: Hotline, t: Gettext) -> dict[str, Any]:
    """One crisis line as the person's card shows it: how to reach it and when, in their language."""
    return {
        "service": t(DIRECTORY_SERVICE) if line.country == "INTL" else line.service,
        "phone": list(line.phone),
        "text": list(line.text),
        "url": line.url,
        "hours": t(HOURS[line.hours]) if line.hours in HOURS else None,
        "country": line.country,
    }


def crisis_resources(*, country: str, locale: str, tier: int, responders_alerted: bool,
                     has_safety_plan: bool | None = None) -> dict[str, Any]:
    """The ``crisis:resources`` payload (without the message ids) for one person.

    The emergency sentence is only written when the country's emergency number is known: naming a
    wrong number to someone in danger is worse than naming none. Likewise the person is told a
    professional was notified only when an alert was actually stored. ``has_safety_plan`` is
    said only by a caller that looked it up (the signed-out help page cannot).
    """
    lines = hotlines_for(country or None, locale or None)
    emergency = next((line.emergency for line in lines if line.emergency), None)
    language = negotiate_locale(locale, None)
    t = gettext_for(language)
    sentences = []
    if emergency:
        sentences.append(t("You are not alone. If you are in danger right now, call {emergency}.", emergency=emergency))
    if responders_alerted:
        sentences.append(t("A trained professional has been notified and will reach out to you."))
    card: dict[str, Any] = {
        "tier": tier,
        "locale": language,
        "title": t("Talk to someone now"),
        "message": " ".join(sentences),
        "hotlines_intro": t("These services are free and confidential:"),
        "hotlines": [hotline_view(line, t) for line in lines],
        "emergency": emergency,
        "responders_alerted": responders_alerted,
    }
    if has_safety_plan is not None:
        card["has_safety_plan"] = has_safety_plan
    return card
