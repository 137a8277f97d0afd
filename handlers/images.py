"""Photos people send: decoded and re-encoded, so that what is stored is an image and nothing else.

Re-encoding is what drops the EXIF/XMP a phone writes into a photo (GPS position, camera model,
time): only the pixels survive. A location the person sends on purpose is kept as the report's
own field, never taken from the photo.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from handlers.context import Context
from handlers.errors import UserError
from handlers.i18n import _
from handlers.messages import PhotoIn

# Formats a phone or a messenger sends. SVG, HTML and everything else never reach the decoder.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
JPEG_QUALITY = 88


class NotAnImage(UserError):
    """What was sent is not a photo we can read: empty, another kind of file, or damaged."""

    message = _("Tệp vừa gửi không phải là ảnh hoặc ảnh bị hỏng, nên chưa được lưu. "
                "Hãy chụp lại hoặc chọn một ảnh JPG, PNG rồi gửi lại.")


class TooManyPixels(UserError):
    """A picture far larger than any camera makes (a decompression bomb, or a huge scan)."""

    message = _("Ảnh có kích thước quá lớn ({width}×{height} điểm ảnh), nên chưa được lưu. "
                "Hãy gửi ảnh chụp bằng điện thoại hoặc thu nhỏ ảnh rồi gửi lại.")


@dataclass(frozen=True, slots=True)
class CleanImage:
    content: bytes
    mime: str
    width: int
    height: int


def clean(content: bytes, *, max_pixels: int) -> CleanImage:
    """Decodes the bytes as a photo and re-encodes them as JPEG (PNG when it has transparency)."""
    if not content:
        raise NotAnImage()
    try:
        with Image.open(io.BytesIO(content), formats=FORMATS) as image:
            # The size comes from the header: a bomb is refused before a single pixel is decoded.
            width, height = image.size
            if width * height > max_pixels:
                raise TooManyPixels(width=width, height=height)
            image.load()
            # The orientation lives in EXIF, which is about to go: turn the pixels instead.
            upright = ImageOps.exif_transpose(image)
            return _encode(upright)
    except Image.DecompressionBombError as error:  # Pillow's own limit, above ours when misconfigured
        raise TooManyPixels(_("Ảnh có kích thước quá lớn, nên chưa được lưu. "
                              "Hãy gửi ảnh chụp bằng điện thoại hoặc thu nhỏ ảnh rồi gửi lại.")) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise NotAnImage() from error


def _encode(image: Image.Image) -> CleanImage:
    buffer = io.BytesIO()
    transparent = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if transparent:
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
        mime = "image/png"
    else:
        # No exif=, no xmp=, no icc: a fresh file with the pixels only.
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        mime = "image/jpeg"
    return CleanImage(buffer.getvalue(), mime, image.width, image.height)


async def store(photo: PhotoIn, ctx: Context) -> int:
    """Checks and cleans a photo the person sent, stores it and returns the Attachment id."""
    # Decoding a 10 MB photo takes a fraction of a second of CPU: a thread, not the event loop.
    image = await asyncio.to_thread(clean, photo.content, max_pixels=ctx.settings.limits.photo_max_pixels)
    return await ctx.files.save(ctx.repo, content=image.content, mime=image.mime, uploader=ctx.person_id)
