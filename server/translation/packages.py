"""Installed Argos Translate packages: where they live, installing and listing them.

argostranslate reads its configuration (``ARGOS_*`` variables) once, when it is first imported,
so every entry point here sets the variables from ``Settings`` and only then imports it.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

from server.core.config import Settings
from server.core.errors import AppError


class InvalidTranslationPackage(AppError):
    code = "invalid_translation_package"
    status = 400


@dataclass(frozen=True)
class InstalledPackage:
    from_code: str
    to_code: str
    from_name: str
    to_name: str
    package_version: str
    path: Path


def packages_dir(settings: Settings) -> Path:
    return settings.data_path / "translation" / "packages"


def argos_package_module(settings: Settings) -> ModuleType:
    """Import ``argostranslate.package`` configured for this deployment.

    The variables only take effect on the first import in a process; later calls with other
    settings still work for reading because we always pass our directory explicitly.
    """
    directory = packages_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["ARGOS_PACKAGES_DIR"] = str(directory)
    # Only local packages: never a LibreTranslate or OpenAI back end from a user settings.json.
    os.environ["ARGOS_MODEL_PROVIDER"] = "OPENNMT"
    # Stanza/spaCy are not installed; MiniSBD is only constructed, and our translator replaces
    # it unless a package carries its own MiniSBD model (see translator.sentencizer_for).
    os.environ["ARGOS_CHUNK_TYPE"] = "MINISBD"
    import argostranslate.package

    # argostranslate logs every text it translates at INFO; chat messages must not reach logs.
    logging.getLogger("argostranslate.utils").setLevel(logging.WARNING)
    return argostranslate.package


def _single_top_level_folder(archive: Path) -> str:
    """The folder every member sits in; a flat zip would install but break listing later."""
    if not zipfile.is_zipfile(archive):
        raise InvalidTranslationPackage(f"{archive} is not a zip archive (.argosmodel)")
    with zipfile.ZipFile(archive) as zipped:
        names = [PurePosixPath(name) for name in zipped.namelist()]
    tops = {name.parts[0] for name in names if name.parts}
    if len(tops) != 1:
        raise InvalidTranslationPackage(
            f"{archive} must hold exactly one top-level folder, found {sorted(tops)}")
    top = tops.pop()
    if PurePosixPath(top, "metadata.json") not in names:
        raise InvalidTranslationPackage(f"{archive} has no {top}/metadata.json")
    if any(part == ".." for name in names for part in name.parts):
        raise InvalidTranslationPackage(f"{archive} has paths leaving its folder")
    return top


def install_package_file(archive: Path, settings: Settings) -> InstalledPackage:
    """Check and install one ``.argosmodel`` with argostranslate's own installer."""
    folder = _single_top_level_folder(archive)
    argos_package = argos_package_module(settings)
    target = packages_dir(settings)
    # loaded by argos_package_module above, with our settings in the environment
    import argostranslate.settings as argos_settings

    if Path(argos_settings.package_data_dir).resolve() != target.resolve():
        raise RuntimeError(
            f"argostranslate in this process installs into {argos_settings.package_data_dir}, "
            f"not {target}; install from a fresh process (python -m server translation install)")
    argos_package.install_from_path(archive)
    installed = _describe(argos_package.Package(target / folder))
    if installed is None:
        raise InvalidTranslationPackage(f"{archive} is not a translation package")
    return installed


def _describe(package) -> InstalledPackage | None:
    if getattr(package, "type", "translate") != "translate":
        return None
    return InstalledPackage(
        from_code=package.from_code,
        to_code=package.to_code,
        from_name=package.from_name,
        to_name=package.to_name,
        package_version=str(package.package_version),
        path=Path(package.package_path),
    )


def installed_packages(settings: Settings) -> list[InstalledPackage]:
    """Translation packages in this deployment's directory, sorted by language pair."""
    argos_package = argos_package_module(settings)
    found = argos_package.get_installed_packages(path=[packages_dir(settings)])
    described = [d for d in (_describe(p) for p in found) if d is not None]
    return sorted(described, key=lambda p: (p.from_code, p.to_code))


def installed_pairs(settings: Settings) -> set[tuple[str, str]]:
    """Direct (source, target) pairs; pivots through English are the translator's business."""
    return {(p.from_code, p.to_code) for p in installed_packages(settings)}
