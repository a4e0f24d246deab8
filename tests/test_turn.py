"""TURN credentials follow coturn's use-auth-secret formula and expire when they say."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from signaling.turn import ice_servers_for

SECRET = "north-wind-7"
NOW = 1_800_000_000
KNOWN_VECTOR = "P4K3ZwJmIgLl7sCHK8guYZQKcow="  # from openssl, see test_a_known_vector_matches


def coturn_password(secret: str, username: str) -> str:
    # Written from the spec text (draft-uberti-behave-turn-rest, coturn README "use-auth-secret"):
    # password = base64(hmac-sha1(shared secret, username)).
    return base64.b64encode(hmac.new(secret.encode("utf-8"), username.encode("utf-8"),
                                     hashlib.sha1).digest()).decode()


def test_a_client_gets_a_turn_credential_coturn_accepts() -> None:
    servers = ice_servers_for("mentee-42", stun_urls=["stun:turn.example.org:3478"],
                              turn_urls=["turn:turn.example.org:3478?transport=udp"],
                              turn_secret=SECRET, ttl_seconds=600, now=NOW)
    stun, turn = servers
    assert stun == {"urls": ["stun:turn.example.org:3478"]}
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert turn["username"] == f"{NOW + 600}:mentee-42"
    assert turn["credential"] == coturn_password(SECRET, turn["username"])


def test_a_known_vector_matches() -> None:
    # Computed once with: printf '%s' '1800000600:mentee-42' | openssl dgst -sha1 -hmac north-wind-7 -binary | base64
    turn = ice_servers_for("mentee-42", stun_urls=[], turn_urls=["turn:t"], turn_secret=SECRET,
                           ttl_seconds=600, now=NOW)[0]
    assert turn["credential"] == KNOWN_VECTOR


def test_the_credential_expires_after_its_ttl() -> None:
    turn = ice_servers_for("u1", stun_urls=[], turn_urls=["turn:t"], turn_secret=SECRET,
                           ttl_seconds=3600, now=NOW)[0]
    expiry = int(turn["username"].split(":", 1)[0])
    assert expiry == NOW + 3600
    assert NOW + 3599 < expiry <= NOW + 3600  # coturn rejects once its clock passes `expiry`


def test_another_secret_or_user_gives_a_different_credential() -> None:
    a = ice_servers_for("u1", stun_urls=[], turn_urls=["turn:t"], turn_secret=SECRET, now=NOW)[0]
    b = ice_servers_for("u2", stun_urls=[], turn_urls=["turn:t"], turn_secret=SECRET, now=NOW)[0]
    c = ice_servers_for("u1", stun_urls=[], turn_urls=["turn:t"], turn_secret="other", now=NOW)[0]
    assert len({a["credential"], b["credential"], c["credential"]}) == 3


def test_no_servers_configured_means_no_public_fallback() -> None:
    assert ice_servers_for("u1", stun_urls=[], turn_urls=[], turn_secret=None) == []


def test_turn_without_a_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        ice_servers_for("u1", stun_urls=[], turn_urls=["turn:t"], turn_secret="")


def test_a_user_id_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError):
        ice_servers_for("a:b", stun_urls=[], turn_urls=["turn:t"], turn_secret=SECRET)
