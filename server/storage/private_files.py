"""Files only the server's user may open: the data dir (0700), the SQLite database with its WAL
and shared-memory files, recordings (0600).

New files get the process umask's mode, commonly 0644: readable by every account on the machine.
The data dir holds the master key beside the database, so a readable copy of both is all an
attacker needs. SQLite gives a database's -wal and -shm files the mode of the database file, so
creating that file 0600 before the first connection covers all three. Files that an older
version created are tightened at start.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed, and make it the owner's alone."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it is missing (its content is kept otherwise), owner-only."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    os.chmod(path, PRIVATE_FILE_MODE)
    return path


def private_sqlite_database(path: Path) -> Path:
    """Make a SQLite database and any companion files it already has owner-only."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.chmod(companion, PRIVATE_FILE_MODE)
    return path
