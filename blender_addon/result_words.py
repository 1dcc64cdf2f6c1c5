"""What a finished job's result.json means, in an artist's words (standard library only, no bpy)."""

from __future__ import annotations


def shape_words(result: dict) -> str:
    """Which shape the result has: the fitted 3D body, or why not (the outline's flat shape instead)."""
    shape = result.get("shape") or {}
    method = shape.get("method")
    if method == "body":
        return "3D body fitted to the photo's pose"
    if method == "user_mesh":
        return "your own mesh"
    why = next((f.get("why", "") for f in result.get("fallbacks") or () if f.get("part") == "shape"), "")
    why = why.split(": no 3D body was fitted")[0] if "no 3D body was fitted" in why else ""
    flat = "flat shape from the outline (no 3D body)"
    return f"{flat}: {why}" if why else flat


def mismatch_words(result: dict) -> str:
    """The backend's finding that the photo and the re-textured mesh do not match, or "" (result.json
    `mesh_fit`: the front silhouettes' IoU against its threshold; backend/shape/user_mesh.py)."""
    fit = result.get("mesh_fit") or {}
    if fit.get("matches", True) or not isinstance(fit.get("front_iou"), (int, float)):
        return ""
    return (f"the photo and the mesh do not match (their outlines overlap {100 * fit['front_iou']:.0f} %, "
            f"a mesh of the person in the photo {100 * fit.get('threshold', 0.7):.0f} % or more): "
            "check that this is the person's photo and mesh")
