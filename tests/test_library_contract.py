"""What we rely on inside python-socketio / python-engineio beyond their documented API.

``server/transport/cluster.py`` overrides the Redis manager's listener loop and reads the manager's room
table; ``server/transport/wireguard.py`` replaces the packet class and the WebSocket driver. The versions
are pinned to a tested range in pyproject.toml; this test fails loudly, naming what moved, when
an upgrade inside that range (or a loosened pin) changes those internals.
"""

from __future__ import annotations

import inspect

import engineio
import socketio
from engineio import async_socket
from engineio.async_drivers import aiohttp as engineio_aiohttp
from socketio import async_redis_manager, base_server
from socketio import packet as sio_packet

from server.transport.cluster import ClusterManager


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_redis_manager_internals_we_override_keep_their_shape() -> None:
    base = async_redis_manager.AsyncRedisManager
    for name in ("_redis_listen_with_retries", "_listen", "_publish", "_get_redis_module"):
        assert hasattr(base, name), f"AsyncRedisManager.{name} is gone: review server/transport/cluster.py"
    assert inspect.isasyncgenfunction(base._redis_listen_with_retries)
    assert inspect.isasyncgenfunction(base._listen)
    assert _parameters(base._publish) == ["self", "data"]
    for name in ("basic_leave_room", "get_participants", "get_namespaces"):
        assert hasattr(base, name), name
    assert issubclass(ClusterManager, base)


def test_the_room_table_is_a_dict_of_namespaces_to_rooms_to_members() -> None:
    manager = socketio.AsyncManager()
    manager.set_server(socketio.AsyncServer())
    manager.basic_enter_room("sid1", "/", "room:x", eio_sid="eio1")
    assert manager.rooms["/"]["room:x"], "server/transport/cluster.py local_chat_rooms reads sio.manager.rooms"


def test_the_packet_and_websocket_hooks_of_the_wire_guard_exist() -> None:
    assert "serializer" in _parameters(base_server.BaseServer.__init__)
    assert hasattr(sio_packet.Packet, "decode") and hasattr(sio_packet.Packet, "reconstruct_binary")
    assert hasattr(async_socket, "AsyncSocket")
    assert hasattr(engineio_aiohttp, "WebSocket") and hasattr(engineio, "AsyncServer")
