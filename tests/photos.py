"""Files as people share them: a phone photo that carries where it was taken, a PDF with words in it."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
# Somewhere in Pittsburgh: what a photo's EXIF gives away about its taker.
LATITUDE = ("N", (40.0, 26.0, 46.0))
LONGITUDE = ("W", (79.0, 58.0, 56.0))


def photo_with_location(width: int = 1200, height: int = 900) -> bytes:
    """A JPEG with camera make and a GPS position in its EXIF, like a phone's."""
    image = Image.new("RGB", (width, height), (46, 125, 186))
    for x in range(0, width, 40):
        image.paste((240, 200, 60), (x, height // 3, x + 20, height // 3 + 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = LATITUDE
    gps[3], gps[4] = LONGITUDE
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


def gps_of(jpeg: bytes) -> dict:
    """The GPS tags of an image (empty when there are none)."""
    return dict(Image.open(io.BytesIO(jpeg)).getexif().get_ifd(GPS_IFD))


def pdf_with(words: str, size: int = 200_000) -> bytes:
    """Bytes libmagic reads as a PDF, with ``words`` in clear inside, padded to ``size``."""
    head = f"%PDF-1.4\n% {words}\n".encode()
    return head + b"0" * max(0, size - len(head))
