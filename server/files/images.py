"""Images as they are stored: turned upright, re-encoded in their own format without their
metadata (EXIF with its GPS position, camera serial and time, XMP, comments), plus a small WebP
thumbnail made here on the server, so a reader's browser never decodes the original to preview it.

Pillow writes EXIF, XMP and comments only when asked to, so re-encoding with nothing but the
colour profile, transparency and animation timing carried over drops the rest. JPEG and WebP are
re-encoded at quality 90 (not visibly different from a phone's own output); PNG and GIF lose nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import IMAGE_TOO_BIG, IMAGE_UNREADABLE, UnsupportedFileType

# A 50 MP phone photo fits; above that decoding alone needs hundreds of MB.
MAX_MEGAPIXELS = 60
THUMBNAIL_PX = 320  # the longer side of a thumbnail
THUMBNAIL_QUALITY = 80
REENCODE_QUALITY = 90
# What survives re-encoding: how the image looks and moves, nothing about where or by whom.
KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background")


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    width: int
    height: int
    thumbnail: bytes


def clean_image(data: bytes, pillow_format: str) -> CleanImage:
    """The image without its metadata, and its thumbnail. CPU-bound: run it in a worker thread."""
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as original:
            if original.width * original.height > MAX_MEGAPIXELS * 1_000_000:
                raise UnsupportedFileType(IMAGE_TOO_BIG, code="image_too_large", params={"megapixels": MAX_MEGAPIXELS})
            animated = getattr(original, "n_frames", 1) > 1
            kept = {key: original.info[key] for key in KEPT_INFO if key in original.info}
            upright = original if animated else ImageOps.exif_transpose(original)
            upright.load()
            cleaned = _encode(upright, pillow_format, kept, animated)
            thumbnail = _thumbnail(upright)
            return CleanImage(cleaned, upright.width, upright.height, thumbnail)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedFileType(IMAGE_UNREADABLE, code="image_unreadable") from None


def _encode(image: Image.Image, pillow_format: str, kept: dict, animated: bool) -> bytes:
    image.info = dict(kept)
    out = io.BytesIO()
    options: dict = {"icc_profile": kept["icc_profile"]} if "icc_profile" in kept else {}
    if pillow_format in ("JPEG", "WEBP"):
        options["quality"] = REENCODE_QUALITY
    if pillow_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if animated:
        options["save_all"] = True
    image.save(out, pillow_format, **options)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    preview = image.copy()
    preview.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    has_alpha = preview.mode in ("RGBA", "LA", "PA") or (preview.mode == "P" and "transparency" in preview.info)
    preview = preview.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    preview.save(out, "WEBP", quality=THUMBNAIL_QUALITY)
    return out.getvalue()
