"""Command line: `python -m server` (serve), plus admin commands.

    python -m server [serve] [--host H --port P ...]   run the server
    python -m server users grant USERNAME ROLE          grant a privileged role
    python -m server users ban|export|delete USERNAME   suspend, export their data, erase them
    python -m server mentors certify|credential USERNAME VALUE   staff-set mentor certification / credential
    python -m server reports list [open|resolved]       reports to staff, with the reported messages
    python -m server keys rotate-master NEW_KEY         re-wrap every room key with a new master key
    python -m server keys rotate-signing                start signing tokens with a new key
    python -m server translation install FILE... | list
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from typing import Sequence

from aiohttp import web

from server.core.config import Settings
from server.core.jsonlog import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help", "help"} & set(argv):
        print(__doc__.strip() + "\n\noptions (each also an environment variable):\n" + Settings().cli_help())
        return 0
    command = argv[0] if argv and not argv[0].startswith("-") else "serve"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    settings = Settings.from_env(argv=rest)
    configure_logging(settings.log_level)
    if command == "serve":
        return serve(settings)
    # Each command imports only what it runs, so --help and the admin commands start at once.
    if command in ("users", "keys", "mentors", "reports"):
        from . import admin

        return asyncio.run(admin.run(command, [a for a in rest if not a.startswith("--")], settings))
    if command == "translation":
        # as above: no app, no event loop for package management
        from server.translation.cli import main as translation_main

        return translation_main(rest, settings)
    print(__doc__, file=sys.stderr)
    return 2


def serve(settings: Settings) -> int:
    # The whole server, loaded only when serving (see main).
    from server.app import build_app

    try:
        import uvloop  # optional: not available on every platform

        uvloop.install()
    except ImportError:
        pass
    app = build_app(settings)
    ssl_context = None
    if settings.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    # run_app handles SIGINT/SIGTERM: on_shutdown closes sockets, cleanup_ctx closes the database.
    # run_app calls `print` once the port is bound: only then is "open …" true.
    ready = f"MentalVerse Live is running: open {settings.public_url}/ in your browser."
    web.run_app(app, host=settings.host, port=settings.port, ssl_context=ssl_context,
                print=lambda _banner: print(ready, file=sys.stderr, flush=True),
                handle_signals=True, shutdown_timeout=10,
                keepalive_timeout=settings.keepalive_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
