"""Deleting what job folders no longer need (standard library only, no bpy).

A job folder holds the job's inputs, its log and the backend's result (about 17 MB a digitize,
more for a re-texture's rendered maps). The scene keeps packed copies of what it shows, so once
a job is over its folder is needed only for files something still points to (``keep``: images
the open file did not pack, the panel's photo, a rigged avatar.glb the report sent the artist
to). Everything else goes; a folder left with nothing to keep goes whole.

Only folders job_folders.py recognises as the add-on's, and only while no job uses them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import job_folders


@dataclass
class Tidy:
    """What cleaning one job folder deletes: ``files`` (relative paths), or the whole folder."""

    folder: Path
    files: list[str]
    whole: bool
    size: int


@dataclass
class Plan:
    """What "Clean Up Old Jobs" would do under one jobs folder."""

    root: Path
    tidies: list[Tidy] = field(default_factory=list)
    left: list[tuple[Path, str]] = field(default_factory=list)  # (folder, why it stays as it is)

    @property
    def size(self) -> int:
        return sum(t.size for t in self.tidies)


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _inside(folder: Path, keep) -> set[str]:
    """The kept paths that lie in ``folder``, relative to it."""
    real = folder.resolve()
    kept = set()
    for path in keep:
        try:
            kept.add(Path(path).resolve().relative_to(real).as_posix())
        except ValueError:
            continue
    return kept


def tidy_plan(folder: Path, keep=()) -> Tidy:
    kept = _inside(folder, keep)
    files = job_folders.files_of(folder)
    gone = [f for f in files if f not in kept]
    whole = len(gone) == len(files)
    marker = _size(folder / job_folders.MARKER)
    # A folder that stays is sealed again, listing only what is left: its marker shrinks too.
    stays = len(job_folders.marker_text(sorted(set(files) - set(gone))).encode())
    size = sum(_size(folder / f) for f in gone) + (marker if whole else max(marker - stays, 0))
    return Tidy(folder, gone, whole, size)


def apply(tidy: Tidy) -> int:
    """Delete what ``tidy`` names; the bytes freed. Links are removed, never followed."""
    folder = tidy.folder
    if tidy.whole:
        shutil.rmtree(folder, ignore_errors=True)
        return tidy.size if not folder.exists() else 0
    marker = folder / job_folders.MARKER
    freed = _size(marker)
    for rel in tidy.files:
        path = folder / rel
        size = _size(path)
        try:
            path.unlink()
        except OSError:
            continue
        freed += size
    for top, dirs, _ in os.walk(folder, topdown=False):  # folders emptied above go too
        for d in dirs:
            try:
                os.rmdir(os.path.join(top, d))
            except OSError:
                pass
    job_folders.seal(folder)
    return freed - _size(marker)


def plan(root: Path, keep=()) -> Plan:
    """Every job folder of the add-on's under ``root`` that no job uses, with what cleaning it frees."""
    result = Plan(Path(root))
    try:
        children = sorted(Path(root).iterdir())
    except OSError:
        return result
    for folder in children:
        if folder.is_symlink() or not folder.is_dir():
            continue  # files and links in the jobs folder are not ours to judge
        why = job_folders.why_not_ours(folder)
        if not why and job_folders.in_use(folder):
            why = "a job is running in it"
        if why:
            result.left.append((folder, why))
            continue
        tidy = tidy_plan(folder, keep)
        if tidy.files or tidy.whole:
            result.tidies.append(tidy)
    return result


def clean(p: Plan) -> int:
    """Carry out a plan; the bytes freed. Each folder is checked again right before: it may have changed."""
    freed = 0
    for tidy in p.tidies:
        if job_folders.why_not_ours(tidy.folder) or job_folders.in_use(tidy.folder):
            continue
        freed += apply(tidy)
    return freed


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
