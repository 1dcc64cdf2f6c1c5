"""Loading and validating the user's photo.

`load_photo` reads any common photo format into 8-bit RGB (plus a float alpha when the file
has real transparency) and turns every way a file can be unusable into a one-line
`InputImageError` that names the file.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import InputImageError
from backend.intake.lens import ExifFocal, read_exif_focal

MIN_SIDE_PX = 64
MAX_SIDE_PX = 12000
MAX_PIXELS = 80_000_000
BLANK_LUMA_STD = 2.0  # luminance standard deviation (0..255 scale) below which a photo is blank
BLANK_ALPHA_STD = 0.02  # ... and alpha std (0..1) below which its alpha carries no shape either

SUPPORTED_FORMATS = "JPEG, PNG, WebP, TIFF or BMP"

# Errors PIL raises for truncated, corrupt or unsupported pixel data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
                  struct.error, zlib.error, NotImplementedError)


@dataclass
class Photo:
    """A loaded photo.

    rgb: uint8 (H, W, 3), EXIF orientation already applied (row 0 is the top as displayed).
    alpha: float32 (H, W) in [0, 1] when the file has transparency (some pixel not fully
        opaque), else None.
    path: the file it came from.
    width, height: the size of `rgb` in pixels (after EXIF rotation).
    source_mode: PIL's mode of the file's pixels before conversion ("RGB", "I;16", "CMYK", "P", ...).
    exif_focal: the lens as the camera wrote it in EXIF (backend.intake.lens.ExifFocal), or None.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    path: Path
    width: int
    height: int
    source_mode: str
    exif_focal: ExifFocal | None = None

    @property
    def name(self) -> str:
        """The file as the user named it, for one-line messages."""
        return display_name(self.path)

    @staticmethod
    def from_array(rgb: np.ndarray, alpha: np.ndarray | None = None, path: str | Path = "<array>") -> Photo:
        """Wrap an in-memory uint8 RGB array (and optional float alpha) as a Photo; no validation."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if alpha is not None:
            alpha = np.asarray(alpha, dtype=np.float32)
        return Photo(rgb, alpha, Path(path), rgb.shape[1], rgb.shape[0], "RGB" if alpha is None else "RGBA")


def display_name(path: str | Path) -> str:
    """A path for a one-line message: control characters (newlines, ...) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _too_large(name: str, size: tuple[int, int] | None) -> InputImageError:
    what = f" ({size[0]}x{size[1]} px)" if size else ""
    return InputImageError(
        f"photo {name} is too large{what}: the limit is {MAX_SIDE_PX} px on the longer side and "
        f"{MAX_PIXELS // 1_000_000} megapixels; shrink it and try again"
    )


def _check_size(name: str, width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE_PX:
        raise InputImageError(
            f"photo {name} is too small ({width}x{height} px): use a photo at least {MIN_SIDE_PX} px "
            "on its shorter side (ideally 1000 px or more)"
        )
    if max(width, height) > MAX_SIDE_PX or width * height > MAX_PIXELS:
        raise _too_large(name, (width, height))


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """A single-channel integer or float image (16-bit, 32-bit, float) -> uint8 0..255."""
    arr = np.asarray(arr)
    if mode.startswith("I;16") or arr.dtype == np.uint16:
        scaled = arr.astype(np.float32) / 257.0
    elif mode == "F" or arr.dtype.kind == "f":
        a = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(a.max()) if a.size else 0.0
        if top <= 1.0:  # float images in [0, 1]
            scaled = a * 255.0
        elif top <= 255.0:
            scaled = a
        else:
            scaled = a / 257.0
    else:  # mode "I" (32-bit int): in practice 16-bit data (PNG/TIFF) or 8-bit data widened
        top = int(arr.max()) if arr.size else 0
        scaled = arr.astype(np.float32) / (257.0 if top > 255 else 1.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _convert(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL image -> (uint8 RGB, float32 alpha or None)."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = _to_uint8(np.asarray(img), mode)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"))
        rgb = np.ascontiguousarray(rgba[:, :, :3])
        a8 = rgba[:, :, 3]
        if a8.min() == 255:  # an alpha channel that is opaque everywhere carries nothing
            return rgb, None
        return rgb, a8.astype(np.float32) / 255.0
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))), None


def _luma_std(rgb: np.ndarray, visible: np.ndarray | None) -> float:
    """Standard deviation of luminance (0..255) over (a subsample of) the visible pixels."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 1_000_000)))
    sub = rgb[::step, ::step].astype(np.float32)
    luma = sub @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if visible is not None:
        luma = luma[visible[::step, ::step]]
    return float(luma.std()) if luma.size else 0.0


def load_photo(path: str | Path) -> Photo:
    """Read and validate a photo of a person.

    Accepts JPEG (EXIF orientation applied), PNG (8/16-bit, grey, palette, with or without
    alpha), WebP, TIFF, BMP, CMYK JPEG, ... Raises InputImageError (one line, naming the
    file) when the file is missing, not an image, truncated or corrupt, too small (shorter
    side < 64 px), too large (longer side > 12000 px or > 80 megapixels: checked from the
    header, before decoding), blank, or fully transparent.
    """
    path = Path(path)
    name = display_name(path)
    if not path.exists():
        raise InputImageError(f"photo not found: {name} (check the path)")
    if not path.is_file():
        raise InputImageError(f"photo {name} is not a file (it is a folder or a device): give the path of an image")
    try:
        with warnings.catch_warnings():
            # PIL warns about big images; the size check below is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as e:
        raise _too_large(name, None) from e
    except UnidentifiedImageError as e:
        raise InputImageError(f"{name} is not an image this program can read: use a {SUPPORTED_FORMATS} file") from e
    except PermissionError as e:
        raise InputImageError(f"cannot open photo {name}: permission denied") from e
    except _DECODE_ERRORS as e:
        raise InputImageError(f"cannot read photo {name}: the file is corrupt ({_one_line(e)})") from e

    with img:
        width, height = img.size  # from the header; no pixels decoded yet
        _check_size(name, width, height)
        source_mode = img.mode
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img.load()  # decode every pixel now, so truncation shows up here
                try:
                    oriented = ImageOps.exif_transpose(img)
                except _DECODE_ERRORS:  # a broken EXIF block: keep the pixels as stored
                    oriented = img
                rgb, alpha = _convert(oriented)
                exif_focal = read_exif_focal(img)
        except Image.DecompressionBombError as e:
            raise _too_large(name, (width, height)) from e
        except MemoryError as e:
            raise _too_large(name, (width, height)) from e
        except _DECODE_ERRORS as e:
            detail = _one_line(e)
            if "truncated" in detail.lower():
                raise InputImageError(
                    f"photo {name} is truncated (the file is incomplete): copy or download it again"
                ) from e
            raise InputImageError(f"cannot read photo {name}: the file is corrupt or unsupported ({detail})") from e

    h, w = rgb.shape[:2]
    visible = None
    if alpha is not None:
        visible = alpha >= 0.5
        if not visible.any():
            raise InputImageError(f"photo {name} has no visible pixels: it is fully transparent")
    if _luma_std(rgb, visible) < BLANK_LUMA_STD and (alpha is None or float(alpha[:: 4, :: 4].std()) < BLANK_ALPHA_STD):
        raise InputImageError(f"photo {name} is blank (one flat colour): use a photo that shows the person")
    return Photo(rgb=rgb, alpha=alpha, path=path, width=w, height=h, source_mode=source_mode, exif_focal=exif_focal)
