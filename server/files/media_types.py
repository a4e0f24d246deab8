"""What may be shared, decided from the bytes (libmagic through python-magic), never from the name.

Images are re-encoded (see ``images``); documents are stored as sent and always downloaded as
attachments under a sandboxing Content-Security-Policy. Left out on purpose: SVG and HTML (they
carry script), archives and executables, legacy Office formats (macros), and anything libmagic
does not name.
"""

from __future__ import annotations

import magic

# The first bytes libmagic looks at: enough for its PDF, image, OOXML and OpenDocument rules.
SNIFF_BYTES = 64 * 1024

# libmagic's type → Pillow's format name.
IMAGE_TYPES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
DOCUMENT_TYPES = frozenset({
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
})


def sniff(head: bytes) -> str:
    """The media type libmagic reads in the first bytes of a file."""
    return magic.from_buffer(head[:SNIFF_BYTES], mime=True)


def is_image(media_type: str) -> bool:
    return media_type in IMAGE_TYPES


def is_allowed(media_type: str) -> bool:
    return media_type in IMAGE_TYPES or media_type in DOCUMENT_TYPES
