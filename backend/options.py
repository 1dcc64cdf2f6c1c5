"""Every option a run takes, in one table, and the one validator that the command line and job.json share.

    value = from_text(OPTIONS["height_m"], "1.7", "--height")     # the command line: text in
    values = read_options({"height_m": 1.7}, "options.")          # job.json: JSON values in

A wrong value is refused before any work (before the photo is even read) with one line that
names the option as the user wrote it (`--height` on the command line, `options.height_m` in
job.json) and says what is allowed. Keys are the pipeline's option names (DigitizeOptions'
fields), except `overwrite`, which goes to the output folder (backend/outputs.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from .conventions import DEFAULT_HEIGHT_M
from .errors import UserError

NUMBER, WHOLE, CHOICE, TEXT, SWITCH, FOLDER, VIEWS, MODELS = (
    "number", "whole", "choice", "text", "switch", "folder", "views", "models")
SHAPE, DIGITIZE = "shape", "digitize"  # the command-line commands that take an option
BOTH = (SHAPE, DIGITIZE)


class OptionError(UserError):
    """An option with a wrong type, range or name: one line naming it and what is allowed."""


@dataclass(frozen=True)
class Option:
    key: str  # job.json's name, and the pipeline's
    flag: str  # the command line's
    kind: str
    default: object = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    nullable: bool = False  # JSON null is the default (e.g. "the preset's")
    commands: tuple[str, ...] = (DIGITIZE,)
    help: str = ""

    @property
    def dest(self) -> str:
        """argparse's attribute for the flag (`--negative-prompt` -> negative_prompt)."""
        return self.flag.lstrip("-").replace("-", "_")

    def allowed(self) -> str:
        """What the option takes, in plain words."""
        kind = self.kind
        if kind in (NUMBER, WHOLE):
            what = f"a number of {self.unit}" if kind == NUMBER else "a whole number"
            assert self.low is not None and self.high is not None  # every number has its range
            words = f"{what} from {_number(self.low)} to {_number(self.high)}"
        else:
            words = {
                CHOICE: f"one of {', '.join(self.choices)}",
                TEXT: "text",
                SWITCH: "true or false",
                FOLDER: "the path of a folder",
                VIEWS: 'default, paper, or a list of views like "180,45,-45,90,-90,0@60"',
                MODELS: "a list of KEY=ID_OR_FOLDER texts",
            }[kind]
        return words


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) >= 1 else f"{x:g}"


OPTIONS: dict[str, Option] = {o.key: o for o in (
    Option("height_m", "--height", NUMBER, DEFAULT_HEIGHT_M, 0.3, 3.0, unit="metres", commands=BOTH,
           help=f"the person's height in metres (default {DEFAULT_HEIGHT_M})"),
    Option("seed", "--seed", WHOLE, 0, 0, 2**32 - 1, help="same seed, same inputs -> same texture"),
    Option("preset", "--preset", CHOICE, "fast", choices=("fast", "quality"),
           help="fast (default) or quality (the paper's diffusion settings, more fusion steps)"),
    Option("device", "--device", CHOICE, "auto", choices=("auto", "cpu", "cuda"), commands=BOTH),
    Option("inpainter", "--inpainter", CHOICE, "auto", choices=("auto", "classical", "diffusion")),
    Option("shape", "--shape", CHOICE, "auto", choices=("auto", "body", "silhouette"), commands=BOTH,
           help="auto (default): the body model fitted to the photo, else the outline's shape; body: refuse the "
                "photo rather than fall back; silhouette: the outline's shape (docs/shape.md)"),
    Option("rig", "--rig", CHOICE, "mixamo", choices=("mixamo", "game_engine", "default", "none"), commands=BOTH,
           help="the skeleton and skin weights in avatar.glb and rig.json (needs the fitted body): mixamo (default; "
                "Mixamo's bone names), game_engine (Unreal's mannequin names), default (MakeHuman's 104-bone rig "
                "the body is fitted with), or none (docs/rig.md)"),
    Option("rest_pose", "--rest-pose", CHOICE, "photo", choices=("photo", "a_pose", "t_pose"),
           help="the pose the rigged person is delivered in: photo (default; the photo's pose), a_pose or t_pose "
                "(neutral, for retargeting and game engines; the photo's pose kept as the animation photo_pose); "
                "needs a rig (docs/rig.md)"),
    Option("segmenter", "--segmenter", CHOICE, "auto", choices=("auto", "alpha", "mediapipe", "grabcut"),
           commands=BOTH),
    Option("rasterizer", "--rasterizer", CHOICE, "auto", choices=("auto", "cpu", "nvdiffrast"), commands=BOTH),
    Option("prompt", "--prompt", TEXT, "", help="words added to the inpainting prompt (diffusion only)"),
    Option("negative_prompt", "--negative-prompt", TEXT, "", help="negative prompt (diffusion only)"),
    Option("fusion_iterations", "--fusion-iterations", WHOLE, None, 1, 100_000, nullable=True,
           help="texture optimisation steps (default: the preset's)"),
    Option("diffusion_steps", "--steps", WHOLE, None, 1, 1000, nullable=True,
           help="diffusion steps per view (default: the preset's)"),
    Option("views", "--views", VIEWS, "default", commands=BOTH,
           help="view schedule: default (the paper's 8 views + 4 from above/below), paper (its 8), or the "
                "views after the input in order, e.g. 180,45,-45,90,-90,135,-135,0@60 (AZIMUTH[@ELEVATION])"),
    Option("models_dir", "--models-dir", FOLDER, None, nullable=True, commands=BOTH,
           help="a folder, one sub-folder per model role (inpaint/, controlnet_normal/, normals/, ...: "
                "docs/models.md)"),
    Option("models", "--model", MODELS, (), commands=BOTH,
           help="use this folder, or this hub id already on this machine, for a model role (repeatable)"),
    Option("offload", "--offload", SWITCH, False,
           help="CUDA: keep only the running model on the GPU (for GPUs with little memory)"),
    Option("resume", "--resume", SWITCH, False,
           help="continue a killed run of the same photo and options from its last finished stage"),
    Option("overwrite", "--overwrite", SWITCH, False, commands=BOTH,
           help="replace the output folder even when it is not an earlier result of this program (everything "
                "in it is deleted)"),
)}


def _refuse(option: Option, name: str, got: str) -> OptionError:
    null = " (or null for the default)" if option.nullable and not name.startswith("--") else ""
    return OptionError(f"{name} must be {option.allowed()}{null}, got {got}")


def check_value(option: Option, value, name: str):
    """A JSON value (or one already converted from text) for `option`, checked; OptionError if wrong."""
    if value is None and option.nullable:
        return None
    kind = option.kind
    if isinstance(value, str) and kind in (NUMBER, WHOLE, SWITCH):
        raise _refuse(option, name, f"the text {value!r} (write it without quotes)")
    if kind in (NUMBER, WHOLE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(option, name, shown(value))
        assert option.low is not None and option.high is not None  # every number has its range
        if not math.isfinite(value) or not option.low <= value <= option.high:
            raise _refuse(option, name, f"{value:g}" if isinstance(value, float) else str(value))
        if kind == WHOLE:
            if value != int(value):
                raise _refuse(option, name, f"{value:g}")
            return int(value)
        return float(value)
    if kind == SWITCH:
        if not isinstance(value, bool):
            raise _refuse(option, name, shown(value))
        return value
    if kind == MODELS:
        return _check_models(option, value, name)
    if not isinstance(value, str):
        raise _refuse(option, name, shown(value))
    if kind == CHOICE and value not in option.choices:
        raise _refuse(option, name, repr(value))
    if kind == FOLDER:  # whether it exists is checked by `preflight`, which may look at the disk
        if not value.strip():
            raise _refuse(option, name, "an empty text")
        return Path(value).expanduser()
    if kind == VIEWS:
        from .view_schedule import parse_views

        _reworded(parse_views, value, "--views", name)
    return value


def from_text(option: Option, text: str, name: str):
    """A command-line value (always text) for `option`, converted and checked."""
    if option.kind in (NUMBER, WHOLE):
        try:
            value = float(text) if option.kind == NUMBER else int(text)
        except ValueError:
            raise _refuse(option, name, repr(text)) from None
        return check_value(option, value, name)
    if option.kind == MODELS:  # one --model at a time (the flag repeats)
        return _check_models(option, [text], name)[0]
    return check_value(option, text, name)


def read_options(given, prefix: str = "options.") -> dict:
    """job.json's `options` object -> every option's value (defaults filled in); unknown keys refused."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise OptionError(f"{prefix.rstrip('.') or 'options'} must be an object of option names and values "
                          f"({{\"height_m\": 1.7, ...}}), got {shown(given)}")
    unknown = [k for k in given if k not in OPTIONS]
    if unknown:
        raise OptionError(f"{prefix}{unknown[0]} is not an option; the options are {', '.join(OPTIONS)}")
    values = {k: _default(o) for k, o in OPTIONS.items()}
    for key, value in given.items():
        values[key] = check_value(OPTIONS[key], value, f"{prefix}{key}")
    return values


def preflight(values: dict) -> None:
    """The checks that look at the disk (a models folder that is not there), still before any work."""
    from .models.registry import ModelSources

    ModelSources.from_options(values.get("models_dir"), values.get("models"))


def pipeline_kwargs(values: dict, command: str = DIGITIZE) -> dict:
    """The validated values a command's pipeline options take (ShapeOptions/DigitizeOptions fields)."""
    return {k: (list(v) if k == "models" else v) for k, v in values.items()
            if k != "overwrite" and command in OPTIONS[k].commands}


def _default(option: Option):
    return list(cast(Iterable, option.default)) if option.kind == MODELS else option.default


def _check_models(option: Option, value, name: str) -> list[str]:
    from .models.registry import parse_model_override

    if isinstance(value, dict):  # {"inpaint": "/path"} reads as naturally as ["inpaint=/path"]
        value = [f"{k}={v}" if isinstance(v, str) else None for k, v in value.items()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _refuse(option, name, shown(value))
    for item in value:
        _reworded(parse_model_override, item, "--model", name)
    return list(value)


def _reworded(check, value: str, flag: str, name: str) -> None:
    """Run a parser that words its errors for the command line; in job.json, name the key instead."""
    try:
        check(value)
    except UserError as e:
        message = str(e)
        if name != flag:
            message = message.replace(flag, name, 1) if flag in message else f"{name}: {message}"
        raise OptionError(message) from None


def shown(value) -> str:
    """A JSON value as a user wrote it, in a few words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if isinstance(value, float) else str(value)
