"""Real image files for tests: photos the decoder accepts, and the files it must refuse."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def png(size: tuple[int, int] = (8, 6), color: tuple[int, int, int, int] = (40, 160, 90, 128)) -> bytes:
    """A PNG with transparency (kept as PNG when cleaned)."""
    buffer = io.BytesIO()
    Image.new("RGBA", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (200, 120, 30), exif: bytes = b"") -> bytes:
    """A JPEG photo, optionally carrying the given EXIF block."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def gps_exif() -> bytes:
    """EXIF as a phone writes it: camera make and model, the time, and the GPS position (Đà Nẵng)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X 12"  # Model
    exif[0x0132] = "2026:11:22 08:30:00"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (16.0, 3.0, 15.84)
    gps[3] = "E"
    gps[4] = (108.0, 12.0, 7.92)
    return exif.tobytes()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few kilobytes that claim 900 million pixels: a decompression bomb (zero rows, compressed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compressobj(9)
    data = b"".join(rows.compress(b"\x00" * (width + 1)) for _ in range(200)) + rows.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def zip_file() -> bytes:
    """A zip archive sent as a photo."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("danh-sach.txt", "ho ten, so nha\n")
    return buffer.getvalue()


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>")


def exif_of(content: bytes) -> dict[int, object]:
    """The EXIF tags of an image file (empty when it carries none)."""
    with Image.open(io.BytesIO(content)) as image:
        return dict(image.getexif())


def decoded(content: bytes) -> tuple[str, tuple[int, int]]:
    """The format and size of an image file, read by Pillow."""
    with Image.open(io.BytesIO(content)) as image:
        image.load()
        return str(image.format), image.size


def pixels(content: bytes) -> bytes:
    """The decoded pixels (RGBA) of an image file: equal for the same picture however it is encoded."""
    with Image.open(io.BytesIO(content)) as image:
        return image.convert("RGBA").tobytes()
