"""`python -m backend.models.download`: fetch the models once (what `install_deps.py --models` runs).

    python -m backend.models.download [--models-dir DIR] [--roles default|all|KEY,KEY...] [--force]

Each role goes to `DIR/<key>/` (default: the models cache, $PHOTO_DIGITIZE_MODELS or
~/.cache/photo-digitize/models) as a plain diffusers folder: configs, tokenizer files and
one safetensors file per weight, nothing else (no pickled .bin, no .ckpt, no code, no
safety checker). Where a repository offers the half-precision variant (`*.fp16.safetensors`)
that one is taken (half the download; it is upcast on the CPU) and saved under the plain
name, so the folder loads like any `save_pretrained` folder.

Pinned: each role is fetched at the commit the registry names (`ModelRole.revision`; where no
public hash is known, the repository's current commit, recorded and said aloud), and every file
is checked against the size and hash the hub publishes for that commit (sha256 for weights,
git's blob id for small files) before anything is moved into place. A download goes to
`DIR/.downloading/<key>/` first; a mismatch deletes it and leaves the cache as it was. A whole
download is moved into place with a `photo-digitize-model.json` manifest (repository, commit,
files with their sizes and sha256); a role already there at the same commit and with the same
file sizes is skipped, and a folder put there by hand is never touched. The LPIPS AlexNet
backbone goes into torch hub's checkpoints folder, where `backend.fusion.perceptual` looks for
it (torch checks the sha256 prefix in its name).

Without a network it stops at once with one line saying so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ..errors import brief
from .registry import GET_MODELS, MANIFEST_NAME, PIPELINE, ROLES, ModelRole, default_models_dir, read_manifest

LPIPS_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LPIPS_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_SHA256_PREFIX = "7be5be79"
_SHARD = re.compile(r"-\d{5}-of-\d{5}|\.index\.")


class DownloadError(Exception):
    """One line for the user."""


def say(msg: str) -> None:
    print(f"[models] {msg}", flush=True)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.2f} {unit}"
        n /= 1000.0
    return f"{n:.2f} GB"  # pragma: no cover


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)


PROGRESS_EVERY_S = 2.0


def _bytes_so_far(folder: Path) -> int:
    """Everything under the staging folder, the hub client's unfinished `.incomplete` files included."""
    total = 0
    for p in folder.rglob("*"):
        try:
            total += p.stat().st_size if p.is_file() else 0
        except OSError:  # renamed or removed meanwhile
            pass
    return total


@contextmanager
def reported_progress(folder: Path, expected: int, what: str):
    """While the body runs, say every few seconds how far `folder` has grown toward `expected` bytes:
    `[models] inpaint: 42% (0.88 GB of 2.10 GB)`, a line people read and the add-on's progress bar parses."""
    stop = threading.Event()

    def report():
        last = -1
        while not stop.wait(PROGRESS_EVERY_S):
            done = min(_bytes_so_far(folder), expected)
            percent = min(99, int(100 * done / expected)) if expected else 0  # 100% once checked and in place
            if percent != last:
                say(f"{what}: {percent}% ({human(done)} of {human(expected)})")
                last = percent

    thread = threading.Thread(target=report, daemon=True, name="download-progress")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _cancel_on_sigterm() -> None:
    """Cancel (the add-on's button sends SIGTERM) unwinds like Ctrl+C: the half download stays in the
    hidden staging folder, to be resumed, and never reaches the role's own folder."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def plan_files(r: ModelRole, repo_files: list[str]) -> list[tuple[str, str]]:
    """(file in the repository, name to save it under) for one role: configs + one safetensors per weight.

    Single-file weights: the `.fp16` variant when the repository has it, saved under the
    plain name; sharded weights: the plain (non-variant) shards and their index.
    """
    files = [f for f in repo_files if not f.startswith(".")]
    if r.kind == PIPELINE:
        dirs = {f.split("/")[0] for f in files if f.count("/") == 1} - set(r.skip_components)
        wanted = [f for f in files if f == "model_index.json"]
        groups = [[f for f in files if f.count("/") == 1 and f.split("/")[0] == d] for d in sorted(dirs)]
    else:
        wanted = [f for f in files if f == "config.json"]
        groups = [[f for f in files if "/" not in f]]
    out = [(f, f) for f in wanted]
    for group in groups:
        meta = [f for f in group if f.endswith((".json", ".txt")) and ".fp16." not in f and f not in wanted]
        out += [(f, f) for f in meta if not f.endswith(".index.json") or "safetensors" in f]
        tensors = [f for f in group if f.endswith(".safetensors")]
        singles: dict[str, str] = {}
        for f in tensors:
            if _SHARD.search(f):
                if ".fp16" not in f:
                    out.append((f, f))
                continue
            plain = f.replace(".fp16.safetensors", ".safetensors")
            if plain not in singles or f.endswith(".fp16.safetensors"):
                singles[plain] = f
        out += [(remote, plain) for plain, remote in sorted(singles.items())]
    # drop index files of weights we do not take (e.g. a pickled .bin index)
    return [(a, b) for a, b in out if not (a.endswith(".index.json") and ".safetensors" not in a)]


def check_network(url: str, timeout: float = 10.0) -> None:
    host = urlparse(url).hostname or url
    port = urlparse(url).port or 443
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise DownloadError(f"cannot reach {host} ({e.strerror or e}): the models need the network once; "
                            f"connect and run `{GET_MODELS}` again, or copy a models folder made on another "
                            f"machine and use --models-dir") from None


@dataclass(frozen=True)
class RemoteFile:
    """What the hub publishes about one file at one commit."""

    name: str
    size: int | None
    sha256: str | None = None  # large (LFS) files: the content's sha256
    blob_id: str | None = None  # small files: git's blob id, sha1 of b"blob <size>\0" + content


class Hub(Protocol):
    """Where models come from: the Hugging Face hub, or a folder on disk in the tests."""

    def files(self, repo_id: str, revision: str | None) -> tuple[str, dict[str, RemoteFile]]:
        """(the commit `revision` is, every file's published size and hash)."""

    def fetch(self, repo_id: str, commit: str, names: list[str], dest: Path) -> None:
        """Put those files of that commit under `dest` (keeping their paths)."""


class HuggingFaceHub:
    def files(self, repo_id: str, revision: str | None) -> tuple[str, dict[str, RemoteFile]]:
        from huggingface_hub import HfApi

        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
        files = {}
        for s in info.siblings or []:
            lfs: Any = s.lfs or {}  # BlobLfsInfo is a dict too, in every huggingface_hub version
            files[s.rfilename] = RemoteFile(s.rfilename, s.size, lfs.get("sha256"), None if lfs else s.blob_id)
        if info.sha is None:
            raise DownloadError(f"{repo_id}: the hub gave no commit for revision {revision or 'main'}")
        return info.sha, files

    def fetch(self, repo_id: str, commit: str, names: list[str], dest: Path) -> None:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, revision=commit, local_dir=dest, allow_patterns=names)


HUB: Hub = HuggingFaceHub()  # the tests put a fake hub here


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob id) of a file, read once."""
    sha, blob = hashlib.sha256(), hashlib.sha1()
    blob.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            sha.update(chunk)
            blob.update(chunk)
    return sha.hexdigest(), blob.hexdigest()


def verify(path: Path, remote: RemoteFile, what: str) -> str:
    """The file's sha256 when it is what the hub published; DownloadError otherwise."""
    if not path.is_file():
        raise DownloadError(f"{what}: {remote.name} is missing from the download")
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(f"{what}: {remote.name} is {size:,} bytes, the hub publishes {remote.size:,}")
    if remote.sha256 is None and remote.blob_id is None:
        raise DownloadError(f"{what}: the hub publishes no checksum for {remote.name}; refusing to install "
                            "a file that cannot be checked")
    sha, blob = file_digests(path)
    if remote.sha256 is not None and sha != remote.sha256.lower():
        raise DownloadError(f"{what}: {remote.name} has sha256 {sha[:16]}..., the hub publishes "
                            f"{remote.sha256[:16]}...")
    if remote.sha256 is None and remote.blob_id is not None and blob != remote.blob_id.lower():
        raise DownloadError(f"{what}: {remote.name} has git blob id {blob[:16]}..., the hub publishes "
                            f"{remote.blob_id[:16]}...")
    return sha


def installed_ok(r: ModelRole, target: Path) -> bool:
    """models_dir/<key>/ made by this tool for this role at the registry's commit, every file its recorded size."""
    manifest = read_manifest(target)
    if manifest.get("repo_id") != r.default_id:
        return False
    if r.revision is not None and manifest.get("revision") != r.revision:
        return False  # an older download (unpinned, or another commit): fetch the pinned one
    sizes = manifest.get("sizes") or {f: None for f in manifest.get("files", [])}
    for name, size in sizes.items():
        path = target / name
        if not path.is_file() or (size is not None and path.stat().st_size != size):
            return False
    return bool(sizes)


def already_there(r: ModelRole, models_dir: Path, force: bool = False) -> bool:
    """True (and says so) when models_dir/<key>/ needs no download."""
    target = models_dir / r.key
    manifest = read_manifest(target)
    if not force and installed_ok(r, target):
        say(f"{r.key}: already there ({r.default_id} @ {str(manifest.get('revision'))[:12]}, "
            f"{human(folder_bytes(target))}) in {target}")
        return True
    if target.exists() and not manifest:
        # Not made by this tool (the user's own model, say): never deleted, and it is what the backend uses.
        say(f"{r.key}: {target} was put there by hand ({human(folder_bytes(target))}); left as it is "
            f"(delete it to get {r.default_id})")
        return True
    return False


def download_role(r: ModelRole, models_dir: Path, hub: Hub | None = None) -> int:
    """Fetch one role into models_dir/<key>/, every file checked; returns its size in bytes.

    Nothing reaches models_dir/<key>/ unless every file matches what the hub publishes for the
    commit; on any failure the staging folder is deleted and the cache is as it was.
    """
    hub = hub or HUB
    target = models_dir / r.key
    commit, remote = hub.files(r.default_id, r.revision)
    if r.revision is not None and commit != r.revision:
        raise DownloadError(f"{r.key}: asked {r.default_id} for commit {r.revision[:12]} and the hub answered for "
                            f"{str(commit)[:12]}; nothing was downloaded")
    plan = plan_files(r, list(remote))
    if not any(name.endswith(".safetensors") for name, _ in plan):
        raise DownloadError(f"{r.default_id} has no safetensors weights for {r.key}; nothing was downloaded")
    expected = sum(remote[name].size or 0 for name, _ in plan)
    pinned = "" if r.revision else " (no pinned commit is known for it: took the current one, recorded below)"
    say(f"{r.key}: {r.default_id} @ {commit[:12]}{pinned}, {len(plan)} files, {human(expected)} ({r.licence})")
    staging = models_dir / ".downloading" / r.key
    staging.mkdir(parents=True, exist_ok=True)  # an interrupted download's files are reused: all are checked below
    try:
        with reported_progress(staging, expected, r.key):
            hub.fetch(r.default_id, commit, [name for name, _ in plan], staging)
        what = f"{r.key} ({r.default_id} @ {commit[:12]})"
        digests = {local: verify(staging / name, remote[name], what) for name, local in plan}
        for name, local in plan:
            if name != local:
                (staging / name).replace(staging / local)
        shutil.rmtree(staging / ".cache", ignore_errors=True)
        files = [local for _, local in plan]
        (staging / MANIFEST_NAME).write_text(json.dumps({
            "role": r.key, "repo_id": r.default_id, "revision": commit, "pinned": r.revision is not None,
            "licence": r.licence, "files": files, "sizes": {f: (staging / f).stat().st_size for f in files},
            "sha256": digests, "renamed": {name: local for name, local in plan if name != local},
            "bytes": folder_bytes(staging), "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }, indent=2))
    except BaseException as e:
        if isinstance(e, DownloadError):  # a bad file: start clean next time; an interruption keeps what came
            shutil.rmtree(staging, ignore_errors=True)
            _remove_empty_parent(staging)
            raise DownloadError(f"{e}; the download was deleted and nothing was installed: run `{GET_MODELS}` "
                                "again, and if it repeats, check the network or proxy") from None
        raise
    _swap_into_place(staging, target)
    size = folder_bytes(target)
    say(f"{r.key}: done, {human(size)} in {target} (every file checked against the hub's sha256)")
    return size


def _swap_into_place(staging: Path, target: Path) -> None:
    """staging -> target; an older download of this tool there is moved aside first and deleted after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        target.rename(old)
    staging.rename(target)
    _remove_empty_parent(staging)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_empty_parent(staging: Path) -> None:
    try:
        staging.parent.rmdir()  # .downloading/, when no other role is half-way
    except OSError:
        pass


def lpips_path() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_FILE


def download_lpips() -> int:
    import torch

    dst = lpips_path()
    dst.parent.mkdir(parents=True, exist_ok=True)
    say(f"lpips backbone: {LPIPS_URL} (torchvision AlexNet)")
    torch.hub.download_url_to_file(LPIPS_URL, str(dst), hash_prefix=LPIPS_SHA256_PREFIX, progress=True)
    say(f"lpips backbone: done, {human(dst.stat().st_size)} at {dst}")
    return dst.stat().st_size


def pick_roles(spec: str) -> list[ModelRole]:
    """"default" (what the diffusion inpainter needs), "all", or a comma list of role keys (may include those)."""
    keys: list[str] = []
    for k in (k.strip() for k in spec.split(",")):
        if k == "default":
            keys += [r.key for r in ROLES.values() if r.download_by_default]
        elif k == "all":
            keys += list(ROLES)
        elif k:
            keys.append(k)
    unknown = [k for k in keys if k not in ROLES]
    if unknown or not keys:
        raise DownloadError(f"unknown model role(s) {', '.join(unknown) or repr(spec)}: use default, all, or some "
                            f"of {', '.join(ROLES)}")
    return [ROLES[k] for k in dict.fromkeys(keys)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m backend.models.download", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", type=Path, help="where the models go (default: $PHOTO_DIGITIZE_MODELS or "
                                                    "~/.cache/photo-digitize/models)")
    ap.add_argument("--roles", default="default", help="default (what the diffusion inpainter needs), all, or "
                                                       f"a comma list of: {', '.join(ROLES)}")
    ap.add_argument("--no-lpips", action="store_true", help="skip the LPIPS AlexNet backbone")
    ap.add_argument("--force", action="store_true", help="download again even if present")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    _cancel_on_sigterm()
    try:
        roles = pick_roles(args.roles)
        models_dir = (args.models_dir or default_models_dir()).expanduser().resolve()
        todo = [r for r in roles if not already_there(r, models_dir, args.force)]
        total = sum(folder_bytes(models_dir / r.key) for r in roles if r not in todo)
        lpips = None if args.no_lpips else lpips_path()
        if lpips is not None and not args.force:
            from ..fusion.perceptual import find_backbone  # where the fusion stage will look for it

            found = find_backbone()
            if found is not None:
                say(f"lpips backbone: already there ({human(found.stat().st_size)}) at {found}")
                total += found.stat().st_size
                lpips = None
        if todo or lpips is not None:
            if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
                raise DownloadError("HF_HUB_OFFLINE is set: unset it to download the models")
            from huggingface_hub import constants

            if todo:
                check_network(constants.ENDPOINT)
            if lpips is not None:
                check_network(LPIPS_URL)
            models_dir.mkdir(parents=True, exist_ok=True)
        for r in todo:
            total += download_role(r, models_dir)
        if lpips is not None:
            total += download_lpips()
    except DownloadError as e:
        print(f"[models] error: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("[models] error: cancelled; run it again to resume", file=sys.stderr, flush=True)
        return 130
    except Exception as e:  # network drops, disk full, server errors: one line, not a traceback
        print(f"[models] error: download failed ({brief(e)}); "
              f"run `{GET_MODELS}` again to resume", file=sys.stderr, flush=True)
        return 1
    say(f"all models in place ({human(total)} on disk, {time.monotonic() - t0:.0f} s): {models_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
