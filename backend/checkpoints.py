"""Resume a killed digitize run: the costly stages' results, kept beside the output until it is whole.

    ckpt = Checkpoints.open(out_dir, key, resume=True, progress=progress)
    views = ckpt.load_views(maps, mesh_digest)     # None when there is nothing (valid) to resume from
    ckpt.save_views(views, head, mesh_digest)
    ckpt.finish()                                  # the output is whole: drop the checkpoints

The folder is `.NAME.resume/` next to `NAME` (hidden, like the staging folder). Only what is
slow to redo is kept: the synthesized views (minutes with diffusion) and the fused texture.
The stages before them (intake, shape, UVs, maps: seconds without the `normals` model, a
minute or more with it on a CPU) are recomputed on resume; they are deterministic on the CPU,
and a digest of the mesh guards that assumption: if the rebuilt mesh differs (fp16 normals on
a GPU need not repeat bit for bit), the checkpoint is not used and the run starts over.
Everything is plain NumPy archives and JSON (no pickles), written under a temporary name and
renamed, so a kill mid-write leaves the previous checkpoint intact.

A run without --resume starts over and replaces any checkpoint at its first save. A run that
fails on bad input removes its own checkpoint (there is nothing to resume) but leaves one
made for another photo or other options alone: a mistyped photo path must not cost the
unfinished run its progress. A run that is killed or crashes keeps its checkpoint; a
finished run removes whatever checkpoint its output name had.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .files import write_atomic
from .notes import CODES, Note, code_of

FORMAT = 3  # 2: the back view may be redrawn by the diffusion model (`redrawn`); 3: the head may wear a hat
VIEW_ARRAYS = ("image", "known", "inpainted")


def run_key(photo_path: Path, options) -> str:
    """What a checkpoint is valid for: the photo's bytes, every option and the preset's values
    behind them, the checkpoint format."""
    h = hashlib.sha256()
    photo_path = Path(photo_path)
    h.update(photo_path.read_bytes() if photo_path.is_file() else str(photo_path).encode())
    settings = {k: v for k, v in asdict(options).items() if k != "resume"}
    if hasattr(options, "resolved_preset"):  # a preset's values may change between versions, its name not
        settings["preset_values"] = asdict(options.resolved_preset())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(f"format {FORMAT}".encode())
    return h.hexdigest()


def mesh_digest(mesh) -> str:
    h = hashlib.sha256()
    for a in (mesh.vertices, mesh.faces, mesh.uv, mesh.faces_uv):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _warning_json(text) -> dict:
    """A warning with its code (notes.Note): JSON keeps only a str's text, and the add-on needs the code."""
    return {"text": str(text), "code": code_of(text)}


def _warning_from_json(item):
    """A warning as `_warning_json` wrote it (a plain text: a checkpoint of an earlier version)."""
    if isinstance(item, dict):
        return Note(item["text"], item["code"]) if item.get("code") in CODES else str(item["text"])
    return str(item)


def _atomic_savez(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getbuffer())


def _atomic_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1).encode("utf-8"))


class Checkpoints:
    def __init__(self, folder: Path, key: str, progress):
        self.folder = folder
        self.off = False  # set when the folder cannot be made: no checkpoints for the rest of the run
        self.key = key
        self.progress = progress
        self.created = False  # ours: made on the first save (or resumed), so a run that fails early leaves nothing

    @classmethod
    def open(cls, out_dir: Path, key: str, *, resume: bool, progress) -> Checkpoints:
        out_dir = Path(out_dir).expanduser().absolute()
        folder = out_dir.parent / f".{out_dir.name}.resume"
        ckpt = cls(folder, key, progress)
        if resume:
            if not folder.is_dir():
                progress.emit("log", f"--resume: no unfinished run for {out_dir}; starting from the beginning")
            elif ckpt._stored_key() != key:
                progress.warning("--resume: the unfinished run was for another photo or other options; "
                                 "starting from the beginning")
            else:
                ckpt.created = True
        return ckpt

    def _writable(self) -> bool:
        """Make the folder on first use; False (and one warning) when it cannot be made."""
        if self.off:
            return False
        if not self.created:
            try:
                shutil.rmtree(self.folder, ignore_errors=True)  # another run's: replaced now that this one has work
                self.folder.mkdir()  # its parent exists: the staged output sits beside it
                _atomic_json(self.folder / "key.json", {"key": self.key, "format": FORMAT})
            except OSError as e:  # checkpoints are a convenience: a read-only spot must not stop the run
                self.progress.warning(f"cannot keep checkpoints in {self.folder} ({e.strerror or e}); a killed run "
                                      "will start over")
                self.off = True
                return False
            self.created = True
        return True

    def _stored_key(self) -> str | None:
        try:
            return json.loads((self.folder / "key.json").read_text()).get("key")
        except (OSError, ValueError):
            return None

    # --- views ------------------------------------------------------------------------------

    def save_views(self, views, head, digest: str) -> None:
        if not self._writable():
            return
        arrays = {f"{i}_{k}": getattr(v, k) for i, v in enumerate(views) for k in VIEW_ARRAYS}
        _atomic_savez(self.folder / "views.npz", **arrays)
        meta = {"mesh": digest, "views": [{"name": v.name, "inpainter": v.inpainter, "trust": v.trust,
                                           "seconds": v.seconds, "inpaint_seconds": v.inpaint_seconds,
                                           "redrawn": v.redrawn}
                                          for v in views],
                "head": {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
                         for k, v in asdict(head).items()}}
        _atomic_json(self.folder / "views.json", meta)  # written last: it says the arrays are complete

    def load_views(self, maps: list, digest: str):
        """(views, head) restored onto freshly rendered `maps` (photo view's first), or None."""
        from .synthesis.back_view import HeadRegion
        from .synthesis.multiview import SynthesizedView

        meta = self._load_meta("views.json", digest)
        if meta is None:
            return None
        if [m.camera.name for m in maps] != [v["name"] for v in meta["views"]]:
            return None
        with np.load(self.folder / "views.npz") as z:
            views = [SynthesizedView(m, z[f"{i}_image"], z[f"{i}_known"], z[f"{i}_inpainted"], v["inpainter"],
                                     v["trust"], v["seconds"], v["inpaint_seconds"], v.get("redrawn", False))
                     for i, (m, v) in enumerate(zip(maps, meta["views"], strict=True))]
        head = meta["head"]
        head = HeadRegion(**{**head, "hair_colour": np.asarray(head["hair_colour"]),
                             "hat_colour": None if head.get("hat_colour") is None else np.asarray(head["hat_colour"])})
        return views, head

    # --- fused texture ----------------------------------------------------------------------

    def save_fused(self, fused, digest: str) -> None:
        if not self._writable():
            return
        _atomic_savez(self.folder / "fused.npz", texture=fused.texture, seen=fused.seen, chart_mask=fused.chart_mask)
        _atomic_json(self.folder / "fused.json", {
            "mesh": digest, "perceptual": fused.perceptual, "notes": fused.notes, "iterations": fused.iterations,
            "final_loss": fused.final_loss, "timings_s": fused.timings_s,
            "warnings": [_warning_json(w) for w in fused.warnings]})

    def load_fused(self, digest: str):
        from .fusion import FusionResult

        meta = self._load_meta("fused.json", digest)
        if meta is None:
            return None
        with np.load(self.folder / "fused.npz") as z:
            return FusionResult(z["texture"], z["seen"], z["chart_mask"], meta["perceptual"], meta["notes"],
                                meta["iterations"], meta["final_loss"], meta["timings_s"],
                                warnings=[_warning_from_json(w) for w in meta["warnings"]])

    def _load_meta(self, name: str, digest: str) -> dict | None:
        if self.off or not (self.folder / name).is_file():
            return None
        try:
            meta = json.loads((self.folder / name).read_text())
        except (OSError, ValueError):
            return None
        if meta.get("mesh") != digest:
            self.progress.warning("--resume: the rebuilt mesh differs from the unfinished run's; redoing its stages")
            return None
        return meta

    # --- end --------------------------------------------------------------------------------

    def finish(self) -> None:
        """The output is whole: no checkpoint for its name is needed any more, whoever made it."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def abandon(self) -> None:
        """This run cannot finish (bad input): drop its own checkpoint, keep another run's."""
        if self.folder is not None and self.created:
            shutil.rmtree(self.folder, ignore_errors=True)
