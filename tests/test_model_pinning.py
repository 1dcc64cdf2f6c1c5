"""`install_deps.py --models` fetches a known commit of each model and checks every file against the size and
hash the hub publishes for it; a mismatch is refused and the cache stays as it was (backend/models/download.py).

No network: a fake hub serves files from a folder on disk with the metadata the real hub gives
(`model_info(files_metadata=True)`: sha256 and size of large files, git's blob id of small ones).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from backend.models import download, registry
from backend.models.download import DownloadError, RemoteFile, download_role, file_digests
from backend.models.registry import MODEL, ROLES, ModelRole
from tests.test_bad_inputs import snapshot

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROLE = ModelRole("controlnet_normal", MODEL, "someone/tiny-controlnet", "a test model", "MIT", True, revision=COMMIT)


class FakeHub:
    """A hub repository on disk: `repo/<files>` plus the metadata published for one commit."""

    def __init__(self, repo: Path, commit: str = COMMIT):
        self.repo, self.commit = repo, commit
        self.published: dict[str, RemoteFile] = {}
        for path in sorted(p for p in repo.rglob("*") if p.is_file()):
            name = path.relative_to(repo).as_posix()
            sha, blob = file_digests(path)
            large = name.endswith(".safetensors")  # LFS: sha256; small files: git's blob id
            self.published[name] = RemoteFile(name, path.stat().st_size, sha if large else None,
                                              None if large else blob)
        self.fetched: list[str] = []

    def files(self, repo_id, revision):
        return self.commit, dict(self.published)

    def fetch(self, repo_id, commit, names, dest):
        assert commit == self.commit
        for name in names:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.repo / name, dest / name)
            self.fetched.append(name)


@pytest.fixture()
def hub(tmp_path) -> FakeHub:
    repo = tmp_path / "hub"
    repo.mkdir()
    (repo / "config.json").write_text('{"_class_name": "ControlNetModel"}')
    (repo / "diffusion_pytorch_model.fp16.safetensors").write_bytes(bytes(range(256)) * 64)
    (repo / "diffusion_pytorch_model.bin").write_bytes(b"a pickle, never fetched")
    return FakeHub(repo)


def tamper(hub: FakeHub, name: str, data: bytes) -> None:
    """The bytes served change after the metadata was published (a bad mirror, a proxy, a swapped file)."""
    (hub.repo / name).write_bytes(data)


def test_a_good_download_is_installed_with_its_commit_and_checksums(tmp_path, hub):
    models = tmp_path / "models"
    size = download_role(ROLE, models, hub)
    target = models / ROLE.key
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json", "diffusion_pytorch_model.safetensors", "photo-digitize-model.json"]  # fp16 under the plain name
    manifest = json.loads((target / "photo-digitize-model.json").read_text())
    weights = (target / "diffusion_pytorch_model.safetensors").read_bytes()
    assert manifest["revision"] == COMMIT and manifest["pinned"] is True
    assert manifest["sha256"]["diffusion_pytorch_model.safetensors"] == hashlib.sha256(weights).hexdigest()
    assert manifest["sizes"]["diffusion_pytorch_model.safetensors"] == len(weights)
    assert size == download.folder_bytes(target) and not (models / ".downloading").exists()
    assert download.already_there(ROLE, models)  # a second run skips it
    (target / "diffusion_pytorch_model.safetensors").write_bytes(weights[:100])  # truncated later on
    assert not download.already_there(ROLE, models)  # ... and is fetched again


@pytest.mark.parametrize("name,data,words", [
    ("diffusion_pytorch_model.fp16.safetensors", bytes(reversed(range(256))) * 64, ["has sha256", "publishes"]),
    ("diffusion_pytorch_model.fp16.safetensors", b"short", ["is 5 bytes, the hub publishes 16,384"]),
    ("config.json", b'{"_class_name": "ControlNetModeX"}', ["git blob id"]),  # same size, other bytes
])
def test_a_mismatch_is_refused_and_the_cache_stays_as_it_was(tmp_path, hub, name, data, words):
    models = tmp_path / "models"
    download_role(ROLE, models, hub)  # an earlier, good download stays usable
    (models / ROLE.key / "photo-digitize-model.json").write_text(
        (models / ROLE.key / "photo-digitize-model.json").read_text().replace(COMMIT, "an older commit"))
    before = snapshot(models)
    tamper(hub, name, data)
    with pytest.raises(DownloadError) as e:
        download_role(ROLE, models, hub)
    message = str(e.value)
    for word in [name, *words, "nothing was installed"]:
        assert word in message, message
    assert "\n" not in message
    assert snapshot(models) == before  # the earlier model untouched, no half download left in .downloading/


def test_a_first_download_that_fails_leaves_nothing(tmp_path, hub):
    models = tmp_path / "models"
    models.mkdir()
    tamper(hub, "diffusion_pytorch_model.fp16.safetensors", b"x" * 16384)
    with pytest.raises(DownloadError, match="has sha256"):
        download_role(ROLE, models, hub)
    assert list(models.iterdir()) == []


def test_the_pinned_commit_is_what_is_asked_for(tmp_path, hub):
    hub.commit = "f" * 40  # the hub answered for another commit (a moved branch, a wrong mirror)
    with pytest.raises(DownloadError, match="asked someone/tiny-controlnet for commit 0123456789ab"):
        download_role(ROLE, tmp_path / "models", hub)
    assert hub.fetched == [] and not (tmp_path / "models" / ROLE.key).exists()


def test_a_file_without_a_published_checksum_is_refused(tmp_path, hub):
    name = "diffusion_pytorch_model.fp16.safetensors"
    hub.published[name] = RemoteFile(name, hub.published[name].size)
    with pytest.raises(DownloadError, match="no checksum"):
        download_role(ROLE, tmp_path / "models", hub)


def test_main_says_it_in_one_line_and_exits_1(tmp_path, hub, monkeypatch, capsys):
    tamper(hub, "diffusion_pytorch_model.fp16.safetensors", b"y" * 16384)
    monkeypatch.setattr(download, "HUB", hub)
    monkeypatch.setattr(download, "check_network", lambda url: None)
    monkeypatch.setitem(registry.ROLES, ROLE.key, ROLE)
    monkeypatch.setattr(download, "ROLES", registry.ROLES)
    code = download.main(["--models-dir", str(tmp_path / "models"), "--roles", ROLE.key, "--no-lpips"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("[models] error: controlnet_normal")
    assert not (tmp_path / "models" / ROLE.key).exists()


def test_every_role_is_pinned_or_said_to_be_unpinned_in_the_docs():
    docs = (ROOT / "docs" / "models.md").read_text()
    for role in ROLES.values():
        assert role.revision is None or re.fullmatch(r"[0-9a-f]{40}", role.revision), role.key
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{role.key}` "))
        assert (role.revision or "not pinned") in row, row


def test_the_hub_adapter_reads_what_model_info_publishes(monkeypatch):
    """HuggingFaceHub.files on an answer shaped as the hub's API gives it (no network): the pinned revision is
    asked for, LFS files give their sha256, small files their git blob id."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import ModelInfo

    asked = {}

    def model_info(self, repo_id, revision=None, files_metadata=False):
        asked.update(repo_id=repo_id, revision=revision, files_metadata=files_metadata)
        return ModelInfo(id=repo_id, sha=COMMIT, siblings=[
            {"rfilename": "config.json", "size": 34, "blobId": "d" * 40},
            {"rfilename": "w.safetensors", "size": 10, "blobId": "e" * 40,
             "lfs": {"sha256": "f" * 64, "size": 10, "pointerSize": 130}}])

    monkeypatch.setattr(HfApi, "model_info", model_info)
    commit, files = download.HuggingFaceHub().files("a/b", COMMIT)
    assert asked == {"repo_id": "a/b", "revision": COMMIT, "files_metadata": True} and commit == COMMIT
    assert files["config.json"] == RemoteFile("config.json", 34, None, "d" * 40)
    assert files["w.safetensors"] == RemoteFile("w.safetensors", 10, "f" * 64, None)


SLOW_DOWNLOAD = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from backend.models import download, registry
from tests.test_model_pinning import ROLE, FakeHub

class SlowHub(FakeHub):
    def fetch(self, repo_id, commit, names, dest):  # a slow network: the weights arrive a piece at a time
        for name in names:
            data = (self.repo / name).read_bytes()
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            with open(dest / name, "wb") as fh:
                for i in range(0, len(data), 1024):
                    fh.write(data[i:i + 1024])
                    fh.flush()
                    time.sleep(0.05)

download.HUB = SlowHub(Path({repo!r}))
download.check_network = lambda url: None
download.PROGRESS_EVERY_S = 0.1
registry.ROLES[ROLE.key] = ROLE
sys.exit(download.main(["--models-dir", {models!r}, "--roles", ROLE.key, "--no-lpips"]))
"""


def test_the_download_says_how_far_it_is_and_a_cancel_installs_nothing(tmp_path, hub):
    """Progress lines while a role downloads ("controlnet_normal: 42% (...)"); SIGTERM (the add-on's Cancel)
    stops it in one line, and the role's folder never appears: the half download stays hidden, to resume."""
    import signal
    import subprocess
    import sys
    import time

    models = tmp_path / "models"
    script = SLOW_DOWNLOAD.format(root=str(ROOT), repo=str(hub.repo), models=str(models))
    proc = subprocess.Popen([sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line.strip())
        if re.match(r"\[models\] controlnet_normal: ([1-9]\d?)% \(\d+ KB of 16 KB\)", line):
            break
    else:
        pytest.fail(f"no progress line: {seen}")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["[models] error: cancelled; run it again to resume"]
    assert not (models / ROLE.key).exists()  # nothing that looks like an installed model
    assert (models / ".downloading" / ROLE.key).is_dir()  # hidden, resumed by the next run
