"""Group rooms: a leader runs a safe session for a small group, and everyone sees what happens.

Each scenario uses real server processes and real Socket.IO clients, one per person.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest

from tests.live_server import PASSWORD, LiveClient, Person, ServerProcess, close_all

# Each person signs in and connects from a loopback address of their own, as group members do
# from their own networks; the server's per-address sign-in and connect limits then meet one
# person each instead of the whole test run.
_next_address = itertools.count(1)
_address_of: dict[str, str] = {}
_sessions: list[aiohttp.ClientSession] = []


def _bound_session(address: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    _sessions.append(session)
    return session


@pytest.fixture(autouse=True)
async def _close_http_sessions() -> AsyncIterator[None]:
    yield
    while _sessions:
        await _sessions.pop().close()


async def register(server: ServerProcess, *, role: str = "mentee") -> Person:
    """Sign up through the public API (privileged roles through the admin CLI) and sign in."""
    n = next(_next_address)
    address = f"127.77.{n // 250}.{n % 250 + 1}"
    username = f"{role}{n}_{uuid.uuid4().hex[:6]}"
    http = _bound_session(address)
    body = {"username": username, "password": PASSWORD, "display_name": username.title(), "role": "mentor" if role == "mentor" else "mentee"}
    async with http.post(f"{server.url}/api/auth/register", json=body) as resp:
        assert resp.status == 201, await resp.text()
    if role not in ("mentee", "mentor"):
        await asyncio.to_thread(server.cli, "users", "grant", username, role)
    async with http.post(f"{server.url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp:
        data = await resp.json()
        assert resp.status == 200, data
    _address_of[data["user"]["id"]] = address
    return Person(server, username, data["token"], data["user"])


async def connect(person: Person) -> LiveClient:
    return await person.connect(http_session=_bound_session(_address_of[person.id]))


_leaders: dict[str, tuple[Person, int]] = {}
# Rooms are independent, so one trained leader may open the groups of several tests on a server:
# granting the role starts a whole admin CLI process. Kept well under the room-creation rate.
GROUPS_PER_LEADER = 10


async def trained_leader(server: ServerProcess) -> Person:
    leader, used = _leaders.get(server.url, (None, GROUPS_PER_LEADER))
    if leader is None or used >= GROUPS_PER_LEADER:
        leader, used = await register(server, role="leader"), 0
    _leaders[server.url] = (leader, used + 1)
    return leader


@dataclass
class Group:
    room_id: str
    leader: Person
    lead: LiveClient
    people: list[Person]
    clients: list[LiveClient]

    @property
    def everyone(self) -> list[LiveClient]:
        return [self.lead, *self.clients]

    async def close(self, *others: Person) -> None:
        await close_all(self.leader, *self.people, *others)


async def open_group(server: ServerProcess, members: int, *, program: str = "general") -> Group:
    """A leader opens a group and invites `members` people, who each accept and open the room."""
    leader, *people = await asyncio.gather(trained_leader(server), *(register(server) for _ in range(members)))
    lead = await connect(leader)
    created = await lead.call("group:create", {"title": "Tuesday circle", "program": program, "invite_ids": [p.id for p in people]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    assert (await lead.call("room:join", {"room_id": room_id}))["ok"]
    clients = []
    for person in people:
        client = await connect(person)
        accepted = await client.call("group:accept", {"room_id": room_id})
        assert accepted["ok"], accepted
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
        clients.append(client)
    return Group(room_id, leader, lead, people, clients)


async def everyone_sees(clients: list[LiveClient], action: str, target_id: str | None = None) -> list[dict]:
    """Each client received the group:action; returns what each saw."""
    return await asyncio.gather(*(
        c.wait_for("group:action", lambda e: e["action"] == action and (target_id is None or e["target_id"] == target_id))
        for c in clients
    ))


def role_of(group_view: dict, user_id: str) -> str:
    return next(m["role"] for m in group_view["members"] if m["user_id"] == user_id)


async def say(client: LiveClient, room_id: str, body: str) -> dict:
    return await client.call("message:send", {"room_id": room_id, "client_id": uuid.uuid4().hex, "body": body})


def error_code(reply: dict) -> str | None:
    return None if reply["ok"] else reply["error"]["code"]


async def test_a_group_fills_to_its_size_limit_and_refuses_the_next_person_with_room_full(server):
    group = await open_group(server, 7)  # leader + 7 = the default maximum of 8
    state = (await group.lead.call("group:state", {"room_id": group.room_id}))["group"]
    assert state["participants"] == 8 and state["max_participants"] == 8 and state["min_participants"] == 4
    late, asker = await register(server), await register(server)
    refused = await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": late.id})
    assert error_code(refused) == "room_full", refused
    asking = await connect(asker)
    assert error_code(await asking.call("group:request", {"room_id": group.room_id})) == "room_full"
    # One leaves: there is room again.
    assert (await group.clients[0].call("group:leave", {"room_id": group.room_id}))["ok"]
    assert (await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": late.id}))["ok"]
    # A group cannot even be opened with more invitations than it has seats.
    too_many = await group.lead.call("group:create", {"title": "Big", "invite_ids": [p.id for p in group.people] + [late.id]})
    assert error_code(too_many) == "room_full"
    print(f"\ngroup of {state['participants']}: invite/request #9 refused with room_full")
    await group.close(late, asker)


async def test_a_session_cannot_start_below_the_minimum_and_program_sizes_come_from_settings(tmp_path: Path):
    data_dir = tmp_path / "data"
    server = ServerProcess(
        data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{data_dir / 'mv.db'}",
        extra_env={"MV_GROUP_PROGRAM_SIZES": "circle=3-5"},
    ).start()
    try:
        group = await open_group(server, 1, program="circle")
        short = await group.lead.call("group:session_start", {"room_id": group.room_id})
        assert error_code(short) == "too_few_participants" and short["error"]["details"]["min_participants"] == 3
        extra = [await register(server) for _ in range(4)]
        for person in extra[:3]:
            assert (await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": person.id}))["ok"]
            client = await connect(person)
            assert (await client.call("group:accept", {"room_id": group.room_id}))["ok"]
        assert (await group.lead.call("group:session_start", {"room_id": group.room_id}))["ok"]
        full = await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": extra[3].id})
        assert error_code(full) == "room_full" and full["error"]["details"]["max_participants"] == 5
        unknown = await group.lead.call("group:create", {"title": "x", "program": "bootcamp"})
        assert error_code(unknown) == "unknown_program"
        await group.close(*extra)
    finally:
        server.stop()


async def test_only_admin_granted_leaders_open_groups_and_nobody_is_added_without_saying_yes(server):
    mentee, mentor, invitee = await register(server), await register(server, role="mentor"), await register(server)
    for person in (mentee, mentor):
        client = await connect(person)
        assert error_code(await client.call("group:create", {"title": "Mine"})) == "forbidden"
    leader = await register(server, role="leader")
    lead = await connect(leader)
    watcher = await connect(invitee)
    created = await lead.call("group:create", {"title": "Grief circle", "invite_ids": [invitee.id]})
    room_id = created["room"]["id"]
    invited = await watcher.wait_for("group:invited", lambda e: e["room_id"] == room_id)
    assert invited["invited_by"] == leader.id and invited["title"] == "Grief circle"
    assert error_code(await watcher.call("room:join", {"room_id": room_id})) == "forbidden"
    assert (await watcher.call("group:decline", {"room_id": room_id}))["ok"]
    assert error_code(await watcher.call("group:accept", {"room_id": room_id})) == "not_found"
    await close_all(mentee, mentor, invitee, leader)


async def test_an_invitation_sent_while_the_invitee_was_offline_waits_for_them(server):
    leader, invitee = await register(server, role="leader"), await register(server)
    lead = await connect(leader)
    room_id = (await lead.call("group:create", {"title": "Evening circle", "invite_ids": [invitee.id]}))["room"]["id"]
    later = await connect(invitee)
    waiting = (await later.call("group:invitations"))["invitations"]
    assert [(i["room_id"], i["title"], i["invited_by"]) for i in waiting] == [(room_id, "Evening circle", leader.id)]
    assert (await later.call("group:accept", {"room_id": room_id}))["ok"]
    assert (await later.call("group:invitations"))["invitations"] == []
    await close_all(leader, invitee)


async def test_a_join_request_reaches_the_moderators_and_the_leader_approves_or_rejects_it(server):
    group = await open_group(server, 4)
    asker, other = await register(server), await register(server)
    asking, other_client = await connect(asker), await connect(other)
    reply = await asking.call("group:request", {"room_id": group.room_id, "note": "My friend told me about this group"})
    assert reply == {"ok": True, "status": "pending"}
    notice = await group.lead.wait_for("group:join_requested", lambda e: e["user"]["id"] == asker.id)
    assert notice["note"] == "My friend told me about this group"
    assert not any(c.received("group:join_requested") for c in group.clients)  # members are not told who asks
    listed = await group.lead.call("group:requests", {"room_id": group.room_id})
    assert [(p["user"]["id"], p["kind"]) for p in listed["pending"]] == [(asker.id, "request")]
    assert error_code(await group.clients[0].call("group:approve", {"room_id": group.room_id, "user_id": asker.id})) == "forbidden"
    assert (await group.lead.call("group:approve", {"room_id": group.room_id, "user_id": asker.id}))["ok"]
    await asking.wait_for("room:added", lambda e: e["room"]["id"] == group.room_id)
    await everyone_sees(group.everyone, "member.join", asker.id)
    assert (await asking.call("room:join", {"room_id": group.room_id}))["ok"]

    assert (await other_client.call("group:request", {"room_id": group.room_id}))["ok"]
    assert (await group.lead.call("group:reject", {"room_id": group.room_id, "user_id": other.id}))["ok"]
    await other_client.wait_for("group:request_declined", lambda e: e["room_id"] == group.room_id)
    assert error_code(await other_client.call("room:join", {"room_id": group.room_id})) == "forbidden"
    await group.close(asker, other)


async def test_a_muted_member_is_seen_muted_by_all_and_cannot_send_until_unmuted_or_the_timeout(server):
    group = await open_group(server, 4)  # 5 clients
    quiet, talker = group.people[0], group.clients[1]
    reply = await group.lead.call("group:mute", {"room_id": group.room_id, "user_id": quiet.id})
    assert reply["ok"], reply
    seen = await everyone_sees(group.everyone, "mute", quiet.id)
    assert all(e["actor_id"] == group.leader.id and e["group"]["members"][1]["muted_until"] for e in seen)
    assert error_code(await say(group.clients[0], group.room_id, "let me speak")) == "muted"
    assert (await say(talker, group.room_id, "others still talk"))["ok"]

    assert (await group.lead.call("group:unmute", {"room_id": group.room_id, "user_id": quiet.id}))["ok"]
    await everyone_sees(group.everyone, "unmute", quiet.id)
    assert (await say(group.clients[0], group.room_id, "thank you"))["ok"]

    assert (await group.lead.call("group:mute", {"room_id": group.room_id, "user_id": quiet.id, "seconds": 1}))["ok"]
    assert error_code(await say(group.clients[0], group.room_id, "too soon")) == "muted"
    await asyncio.sleep(1.2)
    assert (await say(group.clients[0], group.room_id, "the timeout passed"))["ok"]
    await group.close()


async def test_a_removed_member_stops_receiving_the_room_and_cannot_come_back_on_their_own(server):
    group = await open_group(server, 4)
    gone, gone_client = group.people[0], group.clients[0]
    staying = group.everyone[:1] + group.clients[1:]
    reply = await group.lead.call("group:remove", {"room_id": group.room_id, "user_id": gone.id})
    assert reply["ok"], reply
    await everyone_sees(staying, "remove", gone.id)
    removed = await gone_client.wait_for("group:removed", lambda e: e["room_id"] == group.room_id)
    assert removed["by"] == group.leader.id
    assert gone.id not in [m["user_id"] for m in reply["group"]["members"]]

    sent = await say(group.clients[1], group.room_id, "said after the removal")
    await asyncio.gather(*(c.wait_for("message:new", lambda m: m["id"] == sent["message"]["id"]) for c in staying))
    await asyncio.sleep(0.3)
    assert not any(m["id"] == sent["message"]["id"] for m in gone_client.received("message:new"))
    for event, payload in (
        ("room:join", {"room_id": group.room_id}),
        ("message:send", {"room_id": group.room_id, "client_id": "back", "body": "let me back in"}),
        ("group:state", {"room_id": group.room_id}),
        ("hand:raise", {"room_id": group.room_id}),
    ):
        assert error_code(await gone_client.call(event, payload)) == "forbidden", event
    await group.close()


async def test_a_locked_group_admits_nobody_new_and_everyone_sees_the_lock(server):
    group = await open_group(server, 4)
    invited, asker = await register(server), await register(server)
    assert (await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": invited.id}))["ok"]
    assert (await group.lead.call("group:lock", {"room_id": group.room_id, "locked": True}))["ok"]
    seen = await everyone_sees(group.everyone, "lock")
    assert all(e["group"]["locked"] for e in seen)
    invited_client, asking = await connect(invited), await connect(asker)
    assert error_code(await invited_client.call("group:accept", {"room_id": group.room_id})) == "room_locked"
    assert error_code(await asking.call("group:request", {"room_id": group.room_id})) == "room_locked"
    assert error_code(await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": asker.id})) == "room_locked"
    assert (await group.lead.call("group:lock", {"room_id": group.room_id, "locked": False}))["ok"]
    await everyone_sees(group.everyone, "unlock")
    assert (await invited_client.call("group:accept", {"room_id": group.room_id}))["ok"]
    await group.close(invited, asker)


async def test_raised_hands_form_one_queue_everyone_sees_and_the_leader_calls_the_next(server):
    group = await open_group(server, 4)
    order = [1, 3, 0]
    for i in order:
        assert (await group.clients[i].call("hand:raise", {"room_id": group.room_id}))["ok"]
        await everyone_sees(group.everyone, "hand.raise", group.people[i].id)
    expected = [group.people[i].id for i in order]
    for client in group.everyone:
        latest = [e for e in client.received("group:action") if e["action"] == "hand.raise"][-1]
        assert [h["user_id"] for h in latest["group"]["hands"]] == expected
    assert error_code(await group.clients[1].call("hand:raise", {"room_id": group.room_id})) == "hand_already_raised"
    assert error_code(await group.clients[2].call("hand:next", {"room_id": group.room_id})) == "forbidden"
    assert error_code(await group.clients[2].call("hand:lower", {"room_id": group.room_id, "user_id": expected[0]})) == "forbidden"

    called = await group.lead.call("hand:next", {"room_id": group.room_id})
    assert called["called"] == expected[0]
    seen = await everyone_sees(group.everyone, "hand.call", expected[0])
    assert all([h["user_id"] for h in e["group"]["hands"]] == expected[1:] for e in seen)
    assert (await group.clients[3].call("hand:lower", {"room_id": group.room_id}))["ok"]  # lowers own hand
    seen = await everyone_sees(group.everyone, "hand.lower", expected[1])
    assert all([h["user_id"] for h in e["group"]["hands"]] == expected[2:] for e in seen)
    await group.close()


async def test_the_leader_hands_a_session_over_and_the_role_returns_when_the_session_ends(server):
    group = await open_group(server, 4)
    owner, stand_in, other = group.leader, group.people[0], group.people[1]
    assert (await group.lead.call("group:session_start", {"room_id": group.room_id}))["ok"]
    reply = await group.lead.call("group:handover", {"room_id": group.room_id, "user_id": stand_in.id, "for_session": True})
    assert reply["ok"], reply
    seen = await everyone_sees(group.everyone, "handover", stand_in.id)
    assert all(role_of(e["group"], stand_in.id) == "leader" and role_of(e["group"], owner.id) == "co-leader" for e in seen)

    acting = group.clients[0]
    assert (await acting.call("group:mute", {"room_id": group.room_id, "user_id": other.id, "seconds": 60}))["ok"]
    assert error_code(await say(group.clients[1], group.room_id, "hi")) == "muted"
    assert error_code(await acting.call("group:remove", {"room_id": group.room_id, "user_id": owner.id})) == "forbidden"
    assert error_code(await acting.call("group:mute", {"room_id": group.room_id, "user_id": owner.id})) == "forbidden"
    assert error_code(await group.lead.call("group:handover", {"room_id": group.room_id, "user_id": other.id})) == "forbidden"

    assert (await group.lead.call("group:session_end", {"room_id": group.room_id}))["ok"]
    seen = await everyone_sees(group.everyone, "session.end")
    assert all(role_of(e["group"], owner.id) == "leader" and role_of(e["group"], stand_in.id) == "member" for e in seen)
    assert error_code(await acting.call("group:unmute", {"room_id": group.room_id, "user_id": other.id})) == "forbidden"
    await group.close()


async def test_a_permanent_hand_over_goes_only_to_a_trained_leader(server):
    group = await open_group(server, 4)
    mentee = group.people[0]
    refused = await group.lead.call("group:handover", {"room_id": group.room_id, "user_id": mentee.id})
    assert error_code(refused) == "not_a_group_leader"
    successor = await register(server, role="leader")
    assert (await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": successor.id}))["ok"]
    heir = await connect(successor)
    assert (await heir.call("group:accept", {"room_id": group.room_id}))["ok"]
    assert (await heir.call("room:join", {"room_id": group.room_id}))["ok"]
    assert (await group.lead.call("group:handover", {"room_id": group.room_id, "user_id": successor.id}))["ok"]
    seen = await everyone_sees([*group.everyone, heir], "handover", successor.id)
    assert all(role_of(e["group"], successor.id) == "leader" and role_of(e["group"], group.leader.id) == "co-leader" for e in seen)
    assert error_code(await group.lead.call("group:handover", {"room_id": group.room_id, "user_id": mentee.id})) == "forbidden"
    assert (await heir.call("group:remove", {"room_id": group.room_id, "user_id": mentee.id}))["ok"]
    await group.close(successor)


async def test_rotating_leadership_passes_each_session_round_robin_and_always_returns(server):
    group = await open_group(server, 3)
    order = [group.leader.id, *(p.id for p in group.people)]
    assert (await group.lead.call("group:rotation", {"room_id": group.room_id, "enabled": True}))["ok"]
    assert error_code(await group.clients[0].call("group:rotation", {"room_id": group.room_id, "enabled": False})) == "forbidden"
    leaders = []
    for _ in range(5):
        started = await group.lead.call("group:session_start", {"room_id": group.room_id})
        assert started["ok"], started
        view = started["group"]
        leaders.append(next(m["user_id"] for m in view["members"] if m["role"] == "leader"))
        ended = await group.lead.call("group:session_end", {"room_id": group.room_id})
        assert ended["ok"], ended
        assert role_of(ended["group"], group.leader.id) == "leader"
    assert leaders == [order[i % 4] for i in range(5)]
    print(f"\nsession leaders in rotation: {[order.index(u) for u in leaders]}")
    await group.close()


async def test_members_cannot_moderate_and_co_leaders_cannot_touch_the_leader(server):
    group = await open_group(server, 4)
    member, target = group.clients[1], group.people[2].id
    room = group.room_id
    attempts = [
        ("group:mute", {"room_id": room, "user_id": target}),
        ("group:unmute", {"room_id": room, "user_id": target}),
        ("group:remove", {"room_id": room, "user_id": target}),
        ("group:lock", {"room_id": room, "locked": True}),
        ("group:slow_mode", {"room_id": room, "seconds": 10}),
        ("group:invite", {"room_id": room, "user_id": group.leader.id}),
        ("group:requests", {"room_id": room}),
        ("group:handover", {"room_id": room, "user_id": target, "for_session": True}),
        ("group:set_role", {"room_id": room, "user_id": target, "role": "co-leader"}),
        ("group:session_start", {"room_id": room}),
        ("hand:next", {"room_id": room}),
        ("agenda:set", {"room_id": room, "items": ["hijack"]}),
        ("agenda:next", {"room_id": room}),
        ("group:audit", {"room_id": room}),
    ]
    for event, payload in attempts:
        assert error_code(await member.call(event, payload)) == "forbidden", event

    co_leader = group.people[0]
    assert (await group.lead.call("group:set_role", {"room_id": room, "user_id": co_leader.id, "role": "co-leader"}))["ok"]
    await everyone_sees(group.everyone, "role", co_leader.id)
    co = group.clients[0]
    assert (await co.call("group:mute", {"room_id": room, "user_id": target, "seconds": 30}))["ok"]
    assert (await co.call("agenda:set", {"room_id": room, "items": ["check-in"]}))["ok"]
    for event, payload in (
        ("group:handover", {"room_id": room, "user_id": target, "for_session": True}),
        ("group:mute", {"room_id": room, "user_id": group.leader.id}),
        ("group:remove", {"room_id": room, "user_id": group.leader.id}),
        ("group:set_role", {"room_id": room, "user_id": target, "role": "co-leader"}),
    ):
        assert error_code(await co.call(event, payload)) == "forbidden", event
    nothing_happened = (await group.lead.call("group:state", {"room_id": room}))["group"]
    assert role_of(nothing_happened, group.leader.id) == "leader" and not nothing_happened["locked"]
    await group.close()


async def test_slow_mode_spaces_out_a_members_messages_but_not_the_leaders(server):
    group = await open_group(server, 4)
    assert (await group.lead.call("group:slow_mode", {"room_id": group.room_id, "seconds": 30}))["ok"]
    seen = await everyone_sees(group.everyone, "slow_mode")
    assert all(e["group"]["slow_mode_seconds"] == 30 for e in seen)
    member = group.clients[0]
    assert (await say(member, group.room_id, "first"))["ok"]
    second = await say(member, group.room_id, "second")
    assert error_code(second) == "slow_mode" and 0 < second["error"]["details"]["retry_after"] <= 30
    assert (await say(group.clients[1], group.room_id, "someone else may speak"))["ok"]
    assert (await say(group.lead, group.room_id, "leader one"))["ok"] and (await say(group.lead, group.room_id, "leader two"))["ok"]
    assert (await group.lead.call("group:slow_mode", {"room_id": group.room_id, "seconds": 0}))["ok"]
    assert (await say(member, group.room_id, "second, now allowed"))["ok"]
    await group.close()


async def test_a_pinned_message_is_shown_to_everyone(server):
    group = await open_group(server, 4)
    sent = await say(group.clients[2], group.room_id, "Crisis line: call 988 any time")
    message_id = sent["message"]["id"]
    assert error_code(await group.clients[0].call("group:pin", {"room_id": group.room_id, "message_id": message_id})) == "forbidden"
    assert (await group.lead.call("group:pin", {"room_id": group.room_id, "message_id": message_id}))["ok"]
    seen = await everyone_sees(group.everyone, "pin", message_id)
    assert all([p["message_id"] for p in e["group"]["pins"]] == [message_id] for e in seen)
    assert (await group.lead.call("group:unpin", {"room_id": group.room_id, "message_id": message_id}))["ok"]
    seen = await everyone_sees(group.everyone, "unpin", message_id)
    assert all(e["group"]["pins"] == [] for e in seen)
    await group.close()


async def test_the_agenda_moves_item_by_item_and_a_late_joiner_sees_the_current_item(server):
    group = await open_group(server, 4)
    items = ["Check-in round", "Topic: sleep", "Breathing exercise", "Check-out"]
    assert (await group.lead.call("agenda:set", {"room_id": group.room_id, "items": items}))["ok"]
    seen = await everyone_sees(group.everyone, "agenda.set")
    assert all(e["group"]["agenda"]["items"] == items and e["group"]["agenda"]["current"] == 0 for e in seen)
    assert (await group.lead.call("agenda:next", {"room_id": group.room_id}))["ok"]
    await everyone_sees(group.everyone, "agenda.move")
    assert (await group.lead.call("agenda:goto", {"room_id": group.room_id, "index": 3}))["ok"]
    for client in group.everyone:
        await client.wait_for("group:action", lambda e: e["action"] == "agenda.move" and e["group"]["agenda"]["current"] == 3)
    assert error_code(await group.lead.call("agenda:next", {"room_id": group.room_id})) == "agenda_end"
    assert error_code(await group.lead.call("agenda:goto", {"room_id": group.room_id, "index": 9})) == "agenda_end"

    late = await register(server)
    assert (await group.lead.call("group:invite", {"room_id": group.room_id, "user_id": late.id}))["ok"]
    late_client = await connect(late)
    assert (await late_client.call("group:accept", {"room_id": group.room_id}))["ok"]
    joined = await late_client.call("room:join", {"room_id": group.room_id})
    agenda = joined["room"]["settings"]["group"]["agenda"]
    assert agenda["items"][agenda["current"]] == "Check-out"
    await group.close(late)


async def test_the_audit_log_lists_every_action_with_its_actor_and_time(server):
    group = await open_group(server, 4)
    room, leader = group.room_id, group.leader.id
    first, second = group.people[0].id, group.people[1].id
    sent = await say(group.clients[1], room, "pin me")
    steps = [
        (group.lead, "group:mute", {"room_id": room, "user_id": first, "seconds": 60}, "group.mute", first),
        (group.lead, "group:unmute", {"room_id": room, "user_id": first}, "group.unmute", first),
        (group.lead, "group:lock", {"room_id": room, "locked": True}, "group.lock", None),
        (group.lead, "group:pin", {"room_id": room, "message_id": sent["message"]["id"]}, "group.pin", sent["message"]["id"]),
        (group.lead, "group:slow_mode", {"room_id": room, "seconds": 5}, "group.slow_mode", None),
        (group.clients[2], "hand:raise", {"room_id": room}, "group.hand.raise", group.people[2].id),
        (group.lead, "hand:next", {"room_id": room}, "group.hand.call", group.people[2].id),
        (group.lead, "agenda:set", {"room_id": room, "items": ["a", "b"]}, "group.agenda.set", None),
        (group.lead, "agenda:next", {"room_id": room}, "group.agenda.move", None),
        (group.lead, "group:handover", {"room_id": room, "user_id": second, "for_session": True}, "group.handover", second),
        (group.lead, "group:reclaim", {"room_id": room}, "group.reclaim", second),
        (group.lead, "group:remove", {"room_id": room, "user_id": first}, "group.remove", first),
    ]
    for client, event, payload, _action, _target in steps:
        reply = await client.call(event, payload)
        assert reply["ok"], (event, reply)
    audit = await group.lead.call("group:audit", {"room_id": room})
    assert audit["ok"], audit
    entries = list(reversed(audit["entries"]))
    moderation = [(e["action"], e["target_id"]) for e in entries if e["action"] in {s[3] for s in steps}]
    assert moderation == [(action, target) for *_rest, action, target in steps]
    for entry in entries:
        assert entry["at"] and entry["room_id"] == room and entry["actor_id"]
    actors = {e["action"]: e["actor_id"] for e in entries}
    assert actors["group.mute"] == leader and actors["group.hand.raise"] == group.people[2].id
    print(f"\naudit log: {len(entries)} entries, e.g. {entries[-1]['action']} by {entries[-1]['actor_id'][:8]} at {entries[-1]['at']}")

    assert error_code(await group.clients[1].call("group:audit", {"room_id": room})) == "forbidden"
    admin = await register(server, role="admin")
    admin_client = await connect(admin)
    assert len((await admin_client.call("group:audit", {"room_id": room}))["entries"]) == len(entries)
    await group.close(admin)


async def test_leaving_is_seen_by_all_and_the_leader_must_hand_over_before_leaving(server):
    group = await open_group(server, 4)
    assert error_code(await group.lead.call("group:leave", {"room_id": group.room_id})) == "handover_first"
    assert (await group.clients[3].call("group:leave", {"room_id": group.room_id}))["ok"]
    await everyone_sees(group.everyone[:4], "member.leave", group.people[3].id)
    assert error_code(await group.clients[3].call("room:join", {"room_id": group.room_id})) == "forbidden"
    await group.close()


async def test_lock_pins_slow_mode_hands_agenda_and_mutes_survive_a_restart(fresh_server):
    group = await open_group(fresh_server, 4)
    room = group.room_id
    sent = await say(group.clients[0], room, "remember this")
    for client, event, payload in (
        (group.lead, "group:lock", {"room_id": room, "locked": True}),
        (group.lead, "group:slow_mode", {"room_id": room, "seconds": 120}),
        (group.lead, "group:pin", {"room_id": room, "message_id": sent["message"]["id"]}),
        (group.lead, "agenda:set", {"room_id": room, "items": ["one", "two"]}),
        (group.lead, "agenda:next", {"room_id": room}),
        (group.lead, "group:mute", {"room_id": room, "user_id": group.people[3].id}),
        (group.clients[1], "hand:raise", {"room_id": room}),
        (group.clients[2], "hand:raise", {"room_id": room}),
    ):
        assert (await client.call(event, payload))["ok"], event
    before = (await group.lead.call("group:state", {"room_id": room}))["group"]
    await group.close()
    fresh_server.restart()

    lead = await connect(group.leader)
    after = (await lead.call("group:state", {"room_id": room}))["group"]
    assert after == before
    assert after["locked"] and after["slow_mode_seconds"] == 120 and after["agenda"]["current"] == 1
    assert [h["user_id"] for h in after["hands"]] == [group.people[1].id, group.people[2].id]
    muted = await connect(group.people[3])
    assert error_code(await say(muted, room, "still muted?")) == "muted"
    talker = await connect(group.people[0])
    assert error_code(await say(talker, room, "slow mode still on")) == "slow_mode"
    await group.close()
