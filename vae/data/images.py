"""Your own digits: reading PNG and JPEG files, and turning a photo or a drawing into an MNIST digit.

MNIST's digits were made by one procedure (LeCun et al. 1998; the MNIST page): the ink of each scanned digit was
scaled to fit a 20 x 20 box, keeping its aspect ratio, anti-aliased, and the box was placed in a 28 x 28 field so that
the digit's centre of mass is at the centre. `preprocess` repeats it, after making the ink light on a dark ground as
MNIST's is, so that a digit drawn in black on white paper looks to the model like the digits it learned from.

Every problem with a file is a `DataError` naming it. Files are opened and decoded by `vae.data.decode`, the
decoder of folders of images too; `vae-encode` reads the suffixes a folder of images does.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from vae.config import IMAGE_SIDE
from vae.data.decode import IMAGE_SUFFIXES, check_size, flattened, open_image, unreadable
from vae.errors import DataError, ImageWarning

# MNIST's box for the ink, inside its 28 x 28 field.
INK_BOX = 20
# After the ground is made dark and the contrast stretched to [0, 1], a pixel this bright or brighter is ink; fainter
# ones are paper texture, shadow or JPEG noise and do not decide where the digit's edges are.
INK_THRESHOLD = 0.2
# Larger images are shrunk to fit this square, keeping their aspect ratio, before they are prepared.
WORKING_SIDE = 1024
# An image whose brightest and darkest pixels differ by less than this holds no digit.
MIN_CONTRAST = 0.05


def find_images(paths) -> list[Path]:
    """The image files among `paths`, a folder standing for its PNG and JPEG files (sorted, not recursive)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(
                entry for entry in path.iterdir() if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                raise DataError(f"{path}/ holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            found += files
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise DataError(f"{path} is neither a file nor a folder")
        else:
            raise DataError(f"{path}: no such file or folder")
    if not found:
        raise DataError("no images given")
    return found


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image in `path` as float32 gray levels in [0, 1], (height, width), made flat by `vae.data.decode`
    (orientation, 16-bit range, transparency onto white), an animation's first frame. What Pillow warns of while
    reading (a damaged EXIF block, say) becomes one `ImageWarning` naming the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gray = _read_gray(path)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data, found while decoding
        raise unreadable(path, error) from None
    for message in dict.fromkeys(str(warning.message).strip() for warning in caught):
        warnings.warn(f"{path}: {message.splitlines()[0] if message else 'damaged data'}", ImageWarning, stacklevel=2)
    return gray


def _read_gray(path: Path) -> np.ndarray:
    with open_image(path) as image:
        check_size(path, *image.size, too_small=", too small to hold a digit")
        image = flattened(image, "F")
        # The digit ends up 20 pixels tall; a smaller working copy loses nothing and bounds the memory used.
        image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS)
        gray = np.asarray(image, dtype=np.float32)
    return gray if image.mode == "F" else gray / 255.0


def preprocess(gray: np.ndarray, name: str = "the image") -> np.ndarray:
    """A gray image (height, width) in [0, 1] as an MNIST digit: float32 (28, 28), light ink on a dark ground.

    1. The ground (the paper) is a plane fitted to the border pixels, so that a photo lit from one side has an even
       ground after it is subtracted. A ground lighter than the ink is inverted, so the ink is light on dark.
    2. The contrast is stretched: the brightest ink becomes 1.
    3. The image is cropped to the ink (pixels at `INK_THRESHOLD` or above).
    4. The crop is scaled to fit a 20 x 20 box, keeping its aspect ratio, with an anti-aliasing filter.
    5. It is placed in a 28 x 28 field with its centre of mass at the centre, as far as the field allows.
    6. Its values are rounded to the 256 levels of an 8-bit image, as MNIST's are: a likelihood of 8-bit levels
       (`vae.model.likelihoods`) and the input complexity (`vae.evaluation.complexity`) measure the same image.
    """
    gray = np.asarray(gray, dtype=np.float32)
    ground = ground_plane(gray)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = ground - gray if np.median(border) > 0.5 else gray - ground
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise DataError(f"{name} holds no ink: it is all one shade")
    ink = np.clip(ink / contrast, 0.0, 1.0)
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    columns = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height, width = crop.shape
    scale = INK_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    boxed = np.asarray(Image.fromarray(crop, mode="F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    boxed = np.clip(boxed, 0.0, 1.0)
    total = float(boxed.sum())
    if total <= 0.0:
        raise DataError(f"{name} holds no ink: it is all one shade")
    # The centre of mass in the box's pixel coordinates goes to pixel (14, 14), where MNIST's digits have theirs (the
    # mean over its 10,000 test digits is (13.99, 14.01), with a spread of 0.29).
    centre_row = float((boxed.sum(axis=1) * np.arange(boxed.shape[0])).sum()) / total
    centre_column = float((boxed.sum(axis=0) * np.arange(boxed.shape[1])).sum()) / total
    middle = IMAGE_SIDE // 2
    top = int(np.clip(round(middle - centre_row), 0, IMAGE_SIDE - boxed.shape[0]))
    left = int(np.clip(round(middle - centre_column), 0, IMAGE_SIDE - boxed.shape[1]))
    digit = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    digit[top : top + boxed.shape[0], left : left + boxed.shape[1]] = boxed
    return np.round(digit * 255) / np.float32(255)


def ground_plane(gray: np.ndarray) -> np.ndarray:
    """The least-squares plane a + b * row + c * column through the image's border pixels, as an image."""
    height, width = gray.shape
    rows, columns = np.indices(gray.shape, dtype=np.float32)
    edge = np.zeros(gray.shape, dtype=bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    design = np.stack([np.ones(int(edge.sum()), np.float32), rows[edge] / height, columns[edge] / width], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, gray[edge], rcond=None)
    return (coefficients[0] + coefficients[1] * rows / height + coefficients[2] * columns / width).astype(np.float32)


def as_mnist_form(gray: np.ndarray, name: str = "the image") -> np.ndarray:
    """An image already in MNIST form (`--no-preprocess`): 28 x 28, light ink on a dark ground, taken as it is."""
    if gray.shape != (IMAGE_SIDE, IMAGE_SIDE):
        height, width = gray.shape
        raise DataError(
            f"{name} is {width}x{height}: without preprocessing an image must be in MNIST form, "
            f"{IMAGE_SIDE}x{IMAGE_SIDE}, light ink on a dark ground"
        )
    if float(gray.max()) - float(gray.min()) < MIN_CONTRAST:
        raise DataError(f"{name} holds no ink: it is all one shade")
    return np.asarray(gray, dtype=np.float32)


def load_digits(paths, preprocessed: bool = True) -> tuple[list[Path], np.ndarray]:
    """The image files among `paths` (see `find_images`) and their digits as the model takes them: float32
    (N, 28, 28, 1), through `preprocess` unless `preprocessed` is False (`as_mnist_form`)."""
    files = find_images(paths)
    return files, digits_of(files, preprocessed)


def digits_of(files, preprocessed: bool = True) -> np.ndarray:
    """The image files `files` as digits the model takes, float32 (N, 28, 28, 1): through `preprocess`, or without
    `preprocessed` taken as they are (`as_mnist_form`)."""
    prepare = preprocess if preprocessed else as_mnist_form
    return np.stack([prepare(read_image(path), str(path)) for path in files])[..., None]


def preprocessed_pngs(images: np.ndarray, files: list[Path], directory: str | os.PathLike) -> dict[Path, bytes]:
    """Each image (N, side, side, channels) as the PNG of what the model saw, keyed by its path: `<directory>/<index>-
    <file stem>.png`, numbered so that two files of the same stem never collide. Nothing is written here."""
    pngs = {}
    for index, (image, file) in enumerate(zip(images, files, strict=True)):
        buffer = io.BytesIO()
        pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format="PNG")
        pngs[Path(directory) / f"{index:04d}-{file.stem}.png"] = buffer.getvalue()
    return pngs
