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
    def stage(self, name: str, index: int, total: int, what: str):
        self.emit("stage", f"[{index}/{total}] {what} ...", stage=name, index=index, total=total)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.emit("progress", f"[{index}/{total}] {what}: done in {self.timings[name]:.1f} s",
                  stage=name, seconds=self.timings[name], fraction=index / total)

    def warning(self, message: str, code: str | None = None) -> None:
        """A fallback the user should hear about; `code` (or a Note's own) lets programs use their own words."""
        code = code or getattr(message, "code", None)
        self.emit("warning", message, **({"code": code} if code else {}))
