"""Output folders: never destroy what the user owns; whole or absent; one writer at a time.

    with claimed_output(out, overwrite=False) as out:    # locked and checked, before any work
        with staged_output_dir(out) as tmp:              # written under a temporary name ...
            ...                                          # ... and renamed to `out` at the end

An existing folder is replaced only when it is empty or recognisably one of our results (its
`result.json` carries our marker and lists every entry in the folder; a result of a version
before the marker, with only the names those versions wrote), or with `overwrite`;
anything else is refused with one line before any work, and again at the final rename (it may
have changed during the run). A symbolic link named as the output is followed: its target is the
output, the link stays a link. The home folder, a folder above the current one, or one that holds
the run's inputs is never replaced, `overwrite` or not.

One writer per output: a run holds a lock (`.NAME.lock` beside the output) from its first check
to its last rename, and a second run on the same output is refused with one line. Hidden
staging folders of runs that died (`.NAME.partial-PID-*`, `.NAME.old-PID-*`) are swept by the next
run that holds the lock. A failed run leaves nothing: no half-written folder under the name the
user asked for, no staging folder, no empty parent folders it made. Every file written gets the
user's usual permissions (umask).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import UserError

DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # no space, or over quota
MADE_BY = "photo-digitize"  # result.json's "output" marker: which program wrote the folder, and its entries
RESULT_FILE = "result.json"
OS_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}  # what file browsers drop into a folder someone looked at
# Everything versions before the marker wrote into a result: such a folder holding nothing else is ours too.
LEGACY_ENTRIES = {"result.json", "mesh.obj", "mesh.mtl", "texture.png", "avatar.glb", "preview.png", "mask.png",
                  "views", "maps"}
LOCK_BUSY = {errno.EAGAIN, errno.EACCES, getattr(errno, "EWOULDBLOCK", errno.EAGAIN), getattr(errno, "EDEADLK", 0),
             getattr(errno, "EDEADLOCK", 0)} - {0}


class OutputTargetError(UserError):
    """The output folder may not be replaced, or another run is writing it."""


def why_not_writable(e: OSError) -> str:
    """An OSError from creating or writing a file, in plain words with what to do."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (choose an --out folder you can write to)"
    if e.errno == errno.EROFS:
        return "the disk is read-only (choose an --out folder on another disk)"
    if e.errno in DISK_FULL:
        return "the disk is full (free some space and try again)"
    return (e.strerror or str(e)).lower()


# --- which folders may be replaced -----------------------------------------------------------


def output_target(out: Path) -> Path:
    """The folder a run writes: absolute, a symbolic link followed (refused when it leads nowhere)."""
    out = Path(out).expanduser().absolute()
    if out.is_symlink():
        try:
            real = out.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling, or a loop of links
            raise OutputTargetError(f"--out {out} is a link to {os.readlink(out)}, which does not exist: give a "
                                    "real folder") from None
        return real
    return out


def check_output_target(out: Path, overwrite: bool = False, keep: Iterable[Path | None] = ()) -> None:
    """Refuse (OutputTargetError) an output folder that must not be replaced; nothing is changed."""
    if out.is_symlink():  # only after the first check: the folder was swapped for a link during the run
        raise OutputTargetError(f"--out {out} became a link during the run; it was left as it is")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputTargetError(f"--out {out} exists and is not a folder")
    _refuse_precious(out, keep)
    if overwrite:
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise OutputTargetError(f"cannot look inside --out {out} ({e.strerror or e}): choose another folder") from None
    entries = [n for n in entries if n not in OS_LITTER]
    if not entries:
        return
    result = _read_result(out)
    output = result.get("output")
    marker = output if isinstance(output, dict) else {}
    if marker.get("made_by") == MADE_BY:
        foreign = [n for n in entries if n not in set(marker.get("files", ()))]
        if not foreign:
            return
        raise OutputTargetError(f"--out {out} is an earlier result, but now also holds {_some(foreign)}, which this "
                                "program did not write: move them out, choose another --out, or add --overwrite to "
                                "replace the folder and everything in it")
    if "input_camera" in result and "version" in result:  # written before results were marked
        foreign = [n for n in entries if n not in LEGACY_ENTRIES]
        if not foreign:
            return
        raise OutputTargetError(f"--out {out} looks like a result of an older version of this program, but also holds "
                                f"{_some(foreign)}, which it never wrote: move them out, choose another --out, or add "
                                "--overwrite to replace the folder and everything in it")
    raise OutputTargetError(f"--out {out} is not empty and is not a result of this program (it holds "
                            f"{_some(entries)}): choose a new or empty folder, or add --overwrite to replace it and "
                            "everything in it")


def _refuse_precious(out: Path, keep: Iterable[Path | None]) -> None:
    """Folders no run may replace, --overwrite or not: home, the filesystem's root, a folder above the
    current one, or one holding the run's own inputs."""
    real = out.resolve()
    home = Path.home().resolve()
    for folder, what in ((home, "your home folder"), (Path.cwd().resolve(), "the current folder")):
        if real == folder or real in folder.parents:
            raise OutputTargetError(f"--out {out} is {what} or a folder above it, which is never replaced: choose a "
                                    "folder of its own for the result")
    for path in keep:
        if path is not None and (real == Path(path).absolute().resolve() or
                                 real in Path(path).absolute().resolve().parents):
            raise OutputTargetError(f"--out {out} holds the input {path}: choose another folder for the result")


def _read_result(folder: Path) -> dict:
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more"


def seal_result(folder: Path) -> None:
    """Mark a staged result as ours, listing its entries: a later run may replace exactly that, no more."""
    path = folder / RESULT_FILE
    result = _read_result(folder)
    if not result:
        return  # no result.json of ours: the folder will not be recognised later (it needs --overwrite)
    result["output"] = {"made_by": MADE_BY, "files": sorted(p.name for p in folder.iterdir())}
    write_json(path, result)


# --- one writer per output --------------------------------------------------------------------

if sys.platform == "win32":  # sys.platform, not os.name: the type checker follows it
    import msvcrt

    _LOCK_OFFSET = 1 << 20  # lock a byte past the pid so a refused run can still read who holds it

    def _lock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _acquire(out: Path) -> int:
    """An open, locked lock file beside `out` holding our pid; OutputTargetError when another run has it.

    The holder deletes the file when done (no clutter), so a run may lock a file that was just
    deleted: it then checks that the name still leads to the file it locked, and tries again if not.
    """
    path = _lock_path(out)
    for _ in range(50):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            _lock(fd)
        except OSError as e:
            holder = _read_pid(fd)
            os.close(fd)
            if e.errno in LOCK_BUSY:
                who = f" (process {holder})" if holder else ""
                raise OutputTargetError(f"another run is writing to {out}{who}: wait for it to finish, or choose "
                                        "another --out") from None
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid():<20}\n".encode())  # fixed width: no truncating a locked file
            return fd
        os.close(fd)
    raise OutputTargetError(f"cannot lock {out}: other runs keep starting on it; try again")


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _release(fd: int, out: Path) -> None:
    path = _lock_path(out)
    if os.name == "nt":  # Windows deletes no open file: close first; a run that opened it meanwhile keeps it
        os.close(fd)
        try:
            path.unlink()
        except OSError:
            pass
        return
    try:
        path.unlink()  # while still locked: a run waiting on this file sees it is gone and makes a new one
    except FileNotFoundError:
        pass
    os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (on Windows without os.kill, which would end it)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel = ctypes.windll.kernel32
        handle = kernel.OpenProcess(0x1000 | 0x00100000, False, pid)  # QUERY_LIMITED_INFORMATION | SYNCHRONIZE
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: it exists
        try:
            return kernel.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: still running
        finally:
            kernel.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _stale_pattern(out: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(out.name)}\.(partial|old)-(\d+)(?:-[0-9a-f]{{8}})?$")


def _dead_runs_folders(out: Path) -> list[tuple[str, Path]]:
    """(kind, folder) of the hidden staging folders that runs on `out` left when they died.

    Called with the lock held, before this run makes its own: one named with this process's pid was
    left by an earlier process that had the same pid (containers reuse them), so it counts too.
    """
    pattern = _stale_pattern(out)
    try:
        siblings = sorted(out.parent.iterdir())
    except OSError:
        return []
    found = []
    for p in siblings:
        m = pattern.match(p.name)
        if m and not p.is_symlink() and p.is_dir():
            pid = int(m.group(2))
            if pid == os.getpid() or not process_alive(pid):
                found.append((m.group(1), p))
    return found


def recover_interrupted(out: Path) -> Path | None:
    """A run killed between its two final renames left the earlier result as `.NAME.old-*` and no `NAME`:
    put it back, so the user's result is where they left it (and is not swept as a leftover)."""
    if out.exists() or out.is_symlink():
        return None
    for kind, folder in _dead_runs_folders(out):
        if kind == "old":
            folder.rename(out)
            return out
    return None


def sweep_stale(out: Path) -> list[Path]:
    """Remove the hidden staging folders that runs on `out` left when they died; only ours, only dead runs'."""
    swept = []
    for _, folder in _dead_runs_folders(out):
        shutil.rmtree(folder, ignore_errors=True)
        swept.append(folder)
    return swept


_claims: dict[Path, bool] = {}  # outputs this process holds the lock of -> overwrite


@contextmanager
def claimed_output(out: Path, *, overwrite: bool = False, keep: Iterable[Path | None] = ()) -> Iterator[Path]:
    """Hold `out` for one run: yields the folder to write (a link followed), locked against other runs and
    checked that it may be replaced. A claim inside a claim of the same folder is the outer one."""
    out = output_target(out)
    if out in _claims:
        yield out
        return
    created = _missing_parents(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(out)
    except OSError as e:
        _remove_empty(created)
        raise UserError(f"cannot write to {out.parent}: {why_not_writable(e)}") from None
    except BaseException:
        _remove_empty(created)
        raise
    ok = False
    try:
        recover_interrupted(out)
        check_output_target(out, overwrite, keep)
        sweep_stale(out)
        _claims[out] = overwrite
        yield out
        ok = True
    finally:
        _claims.pop(out, None)
        _release(fd, out)
        if not ok:
            _remove_empty(created)


def _missing_parents(out: Path) -> list[Path]:
    """The folders above `out` that do not exist yet, deepest first (a failed run removes them again)."""
    if out.exists() and not out.is_dir():
        raise OutputTargetError(f"--out {out} exists and is not a folder")
    created = []
    for above in out.parents:
        if above.exists():
            if not above.is_dir():  # `--out notes.txt/result`: say which part is a file
                raise UserError(f"cannot write --out {out}: {above} is a file, not a folder")
            break
        created.append(above)
    return created


# --- writing a result whole -------------------------------------------------------------------


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
def staged_output_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """A staging folder to write the result into; renamed to `out` when the block ends without error.

    Claims `out` first (claimed_output) unless this process already holds it.
    """
    out = output_target(out)
    if out not in _claims:
        with claimed_output(out, overwrite=overwrite) as out, staged_output_dir(out) as tmp:
            yield tmp
        return
    try:
        tmp = _make_staging_dir(out)
    except OSError as e:
        raise UserError(f"cannot write to {out.parent}: {why_not_writable(e)}") from None
    try:
        yield tmp
        seal_result(tmp)
        give_usual_permissions(tmp)
        check_output_target(out, _claims[out])  # the folder may have changed while the run worked
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone
            return


def current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; set back at once (no files are made in between here)
    os.umask(mask)
    return mask


def give_usual_permissions(folder: Path) -> None:
    """Every file and folder under `folder` gets the modes a new one gets (0666/0777 less the umask):
    writers that use mkstemp make 0600 files, which a colleague or a render farm could not read."""
    if os.name == "nt":
        return  # no such mode bits
    mask = current_umask()
    for root, dirs, files in os.walk(folder):
        for name, mode in [(d, 0o777) for d in dirs] + [(f, 0o666) for f in files]:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, mode & ~mask)


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
