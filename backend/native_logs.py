"""Keep native libraries' log lines (MediaPipe's absl/TFLite, Warp's CUDA notice) out of the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings


@contextlib.contextmanager
def quiet_stderr():
    """Silence native (C++/absl/TFLite) log lines and Python warnings for the duration.

    Redirects file descriptor 2 to /dev/null, so output from native code is hidden too.
    """
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (embedded interpreters): nothing to silence
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
