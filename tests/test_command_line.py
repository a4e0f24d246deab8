"""The operator's command line: help that does not start a server, a ready line that is true when
printed, and admin commands that refuse to act on a database that is not the server's."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live_server import REPO, ServerProcess, free_port

READY = "MentalVerse Live is running: open"


def test_help_prints_the_commands_and_options_and_starts_nothing(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "server", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**ServerProcess(data_dir=tmp_path, database_url="", port=port).env()})
    assert done.returncode == 0
    assert "users grant USERNAME ROLE" in done.stdout and "--metrics-token" in done.stdout
    assert READY not in done.stdout + done.stderr
    assert not (tmp_path / "mentalverse.db").exists()


def test_the_ready_line_is_printed_once_the_port_accepts_connections(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path / "data", database_url="")
    (tmp_path / "data").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "server"], cwd=REPO, env=server.env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:
            if READY in line:
                with socket.create_connection((server.host, server.port), timeout=2):
                    pass
                break
            assert time.monotonic() < deadline, "no ready line within 60 s"
        else:
            raise AssertionError("the server exited without a ready line")
    finally:
        proc.terminate()
        proc.wait(15)


def test_an_admin_command_pointed_at_an_empty_data_dir_refuses_and_creates_nothing(tmp_path: Path) -> None:
    nowhere = tmp_path / "not-the-server"
    done = ServerProcess(data_dir=nowhere, database_url="").cli("users", "grant", "someone", "admin", check=False)
    assert done.returncode == 1 and "No database in" in done.stderr
    assert not nowhere.exists()


def test_an_admin_command_names_the_database_it_used(server: ServerProcess) -> None:
    done = server.cli("users", "grant", "nobody-here", "admin", check=False)
    assert "database: " in done.stderr and "password" not in done.stderr.lower()
    assert "No such user" in done.stdout + done.stderr
