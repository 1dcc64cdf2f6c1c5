"""Output folders that are whole or absent: written under a temporary name, renamed at the end.

A failed run leaves nothing: no half-written folder under the name the user asked for, no
staging folder, and no empty parent folders it made for it. A killed run leaves at most a
hidden `.NAME.partial-*` folder beside the target.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import UserError

DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # no space, or over quota


def why_not_writable(e: OSError) -> str:
    """An OSError from creating or writing a file, in plain words with what to do."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (choose an --out folder you can write to)"
    if e.errno == errno.EROFS:
        return "the disk is read-only (choose an --out folder on another disk)"
    if e.errno in DISK_FULL:
        return "the disk is full (free some space and try again)"
    return (e.strerror or str(e)).lower()


def _make_staging_dir(out: Path) -> Path:
    """A new hidden `.NAME.partial-*` folder beside `out`, with the usual permissions (umask), unlike mkdtemp's 0700."""
    for _ in range(100):
        tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "cannot find a free name for the staging folder", str(out.parent))


@contextmanager
def staged_output_dir(out: Path) -> Iterator[Path]:
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    created = []  # the folders above `out` this run makes, deepest first: a failed run removes them again
    for above in out.parents:
        if above.exists():
            if not above.is_dir():  # `--out notes.txt/result`: say which part is a file
                raise UserError(f"cannot write --out {out}: {above} is a file, not a folder")
            break
        created.append(above)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = _make_staging_dir(out)
    except OSError as e:
        _remove_empty(created)
        raise UserError(f"cannot write to {out.parent}: {why_not_writable(e)}") from None
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone
            return


def write_png(path: Path, image: np.ndarray) -> None:
    """uint8/uint16 gray or RGB(A) array -> PNG (row 0 at the top)."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    Image.fromarray(image).save(path)


def write_json(path: Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
