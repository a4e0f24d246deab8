"""What a person who wrote a risky message receives at once: crisis lines for where they are, and a
few gentle words in their own language.

The lines come from the hotline directory (``crisis.hotlines``), chosen by the person's country,
else their locale. Entries that were never confirmed against a source page are still shown (a
possibly stale number beats no number in a crisis) but carry ``verified: false`` so clients can
say so. The words come from the server's translation catalogs, so they are reviewed with the rest
of the interface text.
"""

from __future__ import annotations

from typing import Any

from crisis.hotlines import Hotline, hotlines_for
from server.i18n import gettext_for, negotiate_locale

# Detector tier from which a responder is alerted (tier 1 only offers resources and flags mentors).
ALERT_TIER = 2


def hotline_view(line: Hotline) -> dict[str, Any]:
    """One crisis line as clients show it, with where and when its numbers were checked."""
    return {
        "country": line.country,
        "service": line.service,
        "phone": list(line.phone),
        "text": list(line.text),
        "url": line.url,
        "languages": list(line.languages),
        "emergency": line.emergency,
        "verified": line.verified,
        "last_verified": line.last_verified.isoformat() if line.last_verified else None,
        "source": line.source,
        "notes": line.notes,
    }


def crisis_resources(*, country: str, locale: str, tier: int, responders_alerted: bool) -> dict[str, Any]:
    """The ``crisis:resources`` payload (without the message ids) for one person.

    The emergency sentence is only written when the country's emergency number is known: naming a
    wrong number to someone in danger is worse than naming none. Likewise the person is told a
    professional was notified only when an alert was actually stored.
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
    return {
        "tier": tier,
        "locale": language,
        "title": t("Talk to someone now"),
        "message": " ".join(sentences),
        "hotlines_intro": t("These services are free and confidential:"),
        "hotlines": [hotline_view(line) for line in lines],
        "emergency": emergency,
    }
