"""The ``translation`` command: install and list translation packages.

``python -m server translation install FILE...`` / ``... translation list``; ``main`` receives
the words after ``translation``. Standalone: ``python -m server.translation.cli list`` (settings
from ``MV_*`` variables).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.core.config import Settings
from server.translation.packages import (
    InvalidTranslationPackage,
    install_package_file,
    installed_packages,
    packages_dir,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server translation",
        description="Manage offline translation packages (.argosmodel files).")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install .argosmodel files")
    install.add_argument("files", nargs="+", type=Path, metavar="FILE")
    commands.add_parser("list", help="list installed language pairs")
    return parser


def main(argv: list[str], settings: Settings) -> int:
    """Run one command; returns the process exit status (0 ok, 1 a file failed, 2 usage)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command == "install":
        failed = 0
        for file in args.files:
            try:
                package = install_package_file(file, settings)
            except (InvalidTranslationPackage, OSError) as error:
                print(f"error: {file}: {error}", file=sys.stderr)
                failed += 1
                continue
            print(f"installed {package.from_code} -> {package.to_code} "
                  f"({package.from_name} -> {package.to_name}, version "
                  f"{package.package_version})")
        return 1 if failed else 0
    packages = installed_packages(settings)
    if not packages:
        print(f"no translation packages in {packages_dir(settings)}")
    for package in packages:
        print(f"{package.from_code} -> {package.to_code}\t{package.from_name} -> "
              f"{package.to_name}\t{package.package_version}\t{package.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], Settings.from_env()))
