"""Progress for people (one line per stage on stderr) and for programs (JSON lines on stdout).

JSON events follow the job-directory contract of DESIGN.md: {"type": "stage" | "progress" |
"log" | "warning" | "result" | "error", "message": ..., ...}. Errors also go to stderr as
one `error: ...` line, so a person reading a log sees them either way.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager


class Progress:
    def __init__(self, stream=None, jsonl: bool = False, quiet: bool = False):
        self.stream = stream or (sys.stdout if jsonl else sys.stderr)
        self.jsonl = jsonl
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    def emit(self, kind: str, message: str, **fields) -> None:
        if self.quiet:
            return
        if self.jsonl:
            self.stream.write(json.dumps({"type": kind, "message": message, **fields}) + "\n")
        else:
            prefix = {"warning": "warning: ", "error": "error: "}.get(kind, "")
            self.stream.write(f"{prefix}{message}\n")
        self.stream.flush()

    @contextmanager
    def stage(self, name: str, index: int, total: int, what: str, start: float | None = None,
              share: float | None = None):
        """Stage `index` of `total`; `start` and `share`: where it begins in the whole run and how much of it
        it is (0-1, by its usual time), so a progress bar moves with time, not with the count of stages."""
        span = {} if start is None or share is None else {"start": round(start, 4), "share": round(share, 4)}
        self.emit("stage", f"[{index}/{total}] {what} ...", stage=name, index=index, total=total, **span)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        done = round(start + share, 4) if start is not None and share is not None else index / total
        self.emit("progress", f"[{index}/{total}] {what}: done in {self.timings[name]:.1f} s",
                  stage=name, seconds=self.timings[name], fraction=done)

    def warning(self, message: str, code: str | None = None) -> None:
        """A fallback the user should hear about; `code` (or a Note's own) lets programs use their own words."""
        code = code or getattr(message, "code", None)
        self.emit("warning", message, **({"code": code} if code else {}))
