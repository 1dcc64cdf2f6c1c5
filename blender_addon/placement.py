"""Where a new result stands: clear of what is already in the scene.

The backend's result stands on the world origin (its frame is Blender's), which is exactly where
the startup Cube sits. A result that would overlap another object's bounds (or hold another
object's origin: lights, empties, cameras) is moved along +X, just past what it would overlap,
and the report says so. Only objects without a parent among the result's are moved (an armature
carries its mesh; the view cameras move with the person they frame).
"""

from __future__ import annotations

import numpy as np
from mathutils import Vector

MARGIN_M = 0.25  # the gap left between the result and its neighbour
GEOMETRY = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME", "GPENCIL",
            "GREASEPENCIL", "ARMATURE", "LATTICE"}


def world_box(obj) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of ``obj``'s bounds in world space; its origin alone when it has no geometry."""
    m = obj.matrix_world
    if obj.type in GEOMETRY:
        corners = np.array([tuple(m @ Vector(c)) for c in obj.bound_box])
    else:
        corners = np.array([tuple(m.translation)])
    return corners.min(axis=0), corners.max(axis=0)


def _overlaps(a, b, margin: float) -> bool:
    (alo, ahi), (blo, bhi) = a, b
    pad = np.array([margin, margin, 0.0])  # side by side: a gap in X and Y; heights may overlap
    return bool(np.all(alo - pad <= bhi) and np.all(blo <= ahi + pad))


def free_offset_x(box, others, margin: float = MARGIN_M) -> tuple[float, list[int]]:
    """How far to move ``box`` along +X so it overlaps none of ``others`` (0 when it already does not);
    and the indices of the boxes it was moved past."""
    lo, hi = (np.asarray(c, float) for c in box)
    offset, passed = 0.0, []
    for _ in range(len(others) + 1):  # each round moves past at least one box: it ends
        shift = np.array([offset, 0.0, 0.0])
        hits = [i for i, other in enumerate(others) if _overlaps((lo + shift, hi + shift), other, margin)]
        if not hits:
            return offset, passed
        passed += [i for i in hits if i not in passed]
        offset = max(others[i][1][0] for i in hits) + margin - lo[0]
    return offset, passed


def _roots(objects) -> list:
    group = set(objects)
    return [o for o in objects if o.parent is None or o.parent not in group]


def place_clear(context, objects, box) -> tuple[float, list[str]]:
    """Move ``objects`` (the result; ``box`` its bounds now) clear of every other object of the view
    layer, hidden ones included. Returns (the move along X in metres, names of what it cleared)."""
    own = set(objects)
    others = [o for o in context.view_layer.objects if o not in own]
    offset, passed = free_offset_x(box, [world_box(o) for o in others])
    if offset:
        for obj in _roots(objects):
            obj.location.x += offset
    return offset, [others[i].name for i in passed]


def place_beside(context, obj, original) -> float:
    """Put a copy of ``original`` (same place) clear of it and of everything else."""
    lo, hi = world_box(original)
    offset, _ = place_clear(context, [obj], (lo, hi))
    return offset


def placement_words(offset: float, cleared: list[str]) -> str:
    """The report's words for a result that was moved (empty when it stands on the origin)."""
    if not offset:
        return ""
    names = ", ".join(cleared[:3]) + (f" and {len(cleared) - 3} more" if len(cleared) > 3 else "")
    return f"placed {offset:.2f} m along +X, clear of {names}"
