"""The one image decoder: an image file opened, checked and made flat, for a folder of images and for `vae-encode`.

A file is opened lazily and its size read from its header before any pixel is decoded, so a "decompression bomb" (a
small file that claims a huge image) is refused before it can fill the memory: an image of more than
`MAX_IMAGE_PIXELS` or with a side under `MIN_IMAGE_SIDE` is a `DataError` naming it.

A decoded image is made flat (`flattened`): its orientation applied, a 16-bit image scaled by its range (65,535) so
that it gives the gray levels of the same picture in 8 bits, transparency (an alpha channel or a tRNS colour key)
composited onto white, and gray or RGB as asked (RGB to gray by ITU-R 601-2 luma). What is done with it then is the
caller's: a folder's image is cut to the run's square (`fit_image`), `vae-encode` makes a digit of it
(`vae.data.images`).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from vae.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
FORMAT_NAMES = "PNG, JPEG, BMP, GIF or WebP"
# Pillow's modes of gray images; any other mode is a colour image.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
# Pillow's modes of 16-bit (and wider integer) gray images, whose values span 0-65535 in a PNG.
WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# A header that claims more pixels is refused before any is decoded (a 48-megapixel photo passes, and takes under
# 1 GB to prepare); a side shorter than the minimum cannot hold a recognisable digit.
MAX_IMAGE_PIXELS = 50_000_000
MIN_IMAGE_SIDE = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The chunks a plain PNG may hold besides IHDR, IDAT, IEND and an ICC profile (iCCP) before its data, each with its
# only valid length: none of them changes a pixel, in Pillow or in libpng. Any other chunk (a tRNS colour key, an eXIf
# block, text that may hold EXIF) leaves the file to Pillow.
PLAIN_PNG_CHUNKS = {b"pHYs": 9, b"gAMA": 4, b"sRGB": 1, b"cHRM": 32, b"tIME": 7}
_IHDR, _CHUNK, _CRC = struct.Struct(">I4sIIBBBBB"), struct.Struct(">I4s"), struct.Struct(">I")


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    gray: bool


def open_image(source):
    """The image in `source` (a path or a binary stream) opened, its header read and no pixel decoded.

    Pillow's own guard refuses to open images past twice its limit, with a message of its own; it is lifted while
    the header is read so that `check_size` refuses every large image alike, below its lower `MAX_IMAGE_PIXELS`.
    """
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(source, formats=PILLOW_FORMATS)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def unreadable(path, error: Exception, reason=None) -> DataError:
    """The `DataError` of a file that Pillow could not open or decode (`error`), naming it, with `reason` (by
    default the error itself)."""
    if isinstance(error, UnidentifiedImageError):
        return DataError(f"{path} is not an image that can be read ({FORMAT_NAMES})")
    return DataError(f"{path} could not be read as an image ({reason or error})")


def check_size(path, width: int, height: int, too_small: str = "") -> None:
    """Refuse an image of more than `MAX_IMAGE_PIXELS` or with a side under `MIN_IMAGE_SIDE`; `too_small` says
    after its size why a small one is refused."""
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{path} is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} read at most: scale it down first"
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise DataError(
            f"{path} is {width}x{height} pixels{too_small}: give at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
        )


def header_of(image) -> Header:
    return Header(*image.size, image.mode in GRAY_MODES)


def read_header(path: Path) -> Header:
    """An image file's size and whether it is gray, from its header alone; a file that is no image, or too large or
    too small, is a DataError naming it."""
    try:
        with open_image(path) as image:
            header = header_of(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise unreadable(path, error, getattr(error, "strerror", None)) from None
    check_size(path, header.width, header.height)
    return header


def flattened(image, mode: str, *, exif_block_only: bool = False):
    """A decoded Pillow image made flat (see the module's docstring) in `mode`: "L" (8-bit gray), "RGB", or "F",
    gray at the image's own depth: a 16-bit image's levels in [0, 1] as "F", any other's as "L".

    The orientation is looked for wherever Pillow finds one (an EXIF block, a PNG's eXIf chunk, XMP); with
    `exif_block_only`, as a folder's images are read, only in an EXIF block read with the header (a JPEG's).
    """
    if not exif_block_only or "exif" in image.info:
        image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GRAY_MODES:
        # Pillow's conversion of these to 8-bit clips every value above 255 instead of scaling it.
        values = np.asarray(image)
        levels = values.astype(np.float64) / 65535.0
        if isinstance(image.info.get("transparency"), int):  # a tRNS colour key: its pixels are transparent
            levels[values == image.info["transparency"]] = 1.0
        levels = np.clip(levels, 0, 1)
        if mode == "F":
            # Float32 levels, computed in float64: the same bits as float32's own division.
            return Image.fromarray(levels.astype(np.float32), mode="F")
        image = Image.fromarray(np.round(levels * 255).astype(np.uint8), mode="L")
    # Transparency is an alpha channel (RGBA, LA, PA) or a tRNS colour key (P, L, RGB), which convert("RGBA") turns
    # into alpha.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
    mode = "L" if mode == "F" else mode
    return image if image.mode == mode else image.convert(mode)


def fit_image(image, side: int, channels: int) -> np.ndarray:
    """A Pillow image as a folder run's uint8 (side, side, channels) array: made flat, gray or RGB as the run asks,
    and, when its size differs, scaled so that its shorter side is the run's side, keeping its aspect ratio, and cut
    to the middle square ("crop"). An image already of the run's size and mode is taken pixel for pixel."""
    image = flattened(image, "L" if channels == 1 else "RGB", exif_block_only=True)
    if image.size != (side, side):
        image = ImageOps.fit(image, (side, side), method=Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if channels == 1 else pixels


def plain_png(content: bytes, side: int, channels: int) -> bool:
    """Whether `content` is a PNG that `decode` would take pixel for pixel, so that any PNG decoder gives the same
    pixels: 8-bit gray for a gray run or 8-bit RGB for an RGB run, of the run's size, not interlaced, without
    transparency or orientation, made of IHDR, IDAT, IEND, an ICC profile before the data, and the chunks of
    `PLAIN_PNG_CHUNKS`; every chunk but the data of the right length and checksum, and the profile one that Pillow
    reads (so that Pillow would not refuse the file), and the file whole (ending in IEND). Nothing is decoded here:
    the chunks' headers are walked."""
    if channels not in (1, 3) or len(content) < 45 or not content.startswith(PNG_SIGNATURE):
        return False
    # IHDR's length, name and fields: the run's size, 8 bits, gray or RGB, the one compression and filter, no interlace
    if _IHDR.unpack_from(content, 8) != (13, b"IHDR", side, side, 8, 0 if channels == 1 else 2, 0, 0, 0):
        return False
    view, position, end, seen_data = memoryview(content), 8, len(content), False
    while position + 12 <= end:
        length, kind = _CHUNK.unpack_from(content, position)
        after = position + 12 + length
        if after > end:
            return False
        if kind == b"IEND":
            return seen_data and length == 0
        if kind == b"IDAT":
            seen_data = True
        else:
            known = position == 8 or PLAIN_PNG_CHUNKS.get(kind) == length
            if kind == b"iCCP":
                known = not seen_data and _pillow_reads_profile(bytes(view[position + 8 : after - 4]))
            if not known or zlib.crc32(view[position + 4 : after - 4]) != _CRC.unpack_from(content, after - 4)[0]:
                return False
        position = after
    return False


@functools.lru_cache(maxsize=16)
def _pillow_reads_profile(chunk: bytes) -> bool:
    """Whether Pillow reads this iCCP chunk's data without refusing the file: a name, compression method 0, and a
    profile that inflates within Pillow's limit. The images of one folder often share one profile, checked once."""
    name_end = chunk.find(b"\0")
    if not 1 <= name_end <= 79 or len(chunk) < name_end + 2 or chunk[name_end + 1] != 0:
        return False
    inflate = zlib.decompressobj()
    try:
        inflate.decompress(chunk[name_end + 2 :], PngImagePlugin.MAX_TEXT_CHUNK)
    except zlib.error:
        return False
    return not inflate.unconsumed_tail and inflate.eof


def decode(content: bytes, path: Path, side: int, channels: int) -> tuple[Header, np.ndarray]:
    """The image file's header, and its bytes as a folder run's uint8 (side, side, channels) (`fit_image`); a
    DataError names what is wrong."""
    try:
        image = open_image(io.BytesIO(content))
    except (OSError, ValueError, SyntaxError) as error:
        raise unreadable(path, error) from None
    with image:
        header = header_of(image)
        check_size(path, header.width, header.height)
        try:
            return header, fit_image(image, side, channels)
        except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data, found while decoding
            raise unreadable(path, error) from None
