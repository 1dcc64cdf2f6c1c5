"""The photo projected through its camera onto a mesh: the material a Reconstruct Shape result wears.

An untextured mesh tells the artist nothing about where a hand ends or a gap should close; the
photo laid over it from the camera that took it does. The projection is done in the material
(object-space position -> the camera's 3x4 world_to_pixel -> the image's UV), not with a UV
Project modifier: the mesh's own UVs stay as they are for Texture Selected Mesh, and an edited
vertex simply picks up the photo's pixel behind it. Where the photo does not see the person
(outside the mask, or outside the image) the mesh is a plain grey.

Texture Selected Mesh replaces this material with the fused texture (scene_result.apply_texture).
"""

from __future__ import annotations

from .cameras import world_to_pixel

PREVIEW_KEY = "digitize_photo_preview"  # custom property marking the material as the projected photo
UNSEEN_GREY = (0.5, 0.5, 0.5)


def is_photo_preview(mat) -> bool:
    return mat is not None and bool(mat.get(PREVIEW_KEY))


def make_photo_material(name: str, image, camera: dict):
    """A Principled BSDF whose Base Color is ``image`` (the photo, the person mask as alpha) seen
    through ``camera`` (Camera.to_json form, in the mesh's object space and the photo's pixels)."""
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    mat[PREVIEW_KEY] = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    x = bsdf.location.x - 1400

    def node(kind: str, dx: float, dy: float, **settings):
        n = nodes.new(kind)
        n.location = (x + dx, bsdf.location.y + dy)
        for key, value in settings.items():
            setattr(n, key, value)
        return n

    coords = node("ShaderNodeTexCoord", 0, 0)
    p = world_to_pixel(camera)  # pixel (u, v) * w = P @ (x, y, z, 1)
    rows = []
    for i in range(3):
        dot = node("ShaderNodeVectorMath", 200, 150 - 150 * i, operation="DOT_PRODUCT")
        links.new(coords.outputs["Object"], dot.inputs[0])
        dot.inputs[1].default_value = [float(c) for c in p[i, :3]]
        add = node("ShaderNodeMath", 400, 150 - 150 * i, operation="ADD")
        links.new(dot.outputs["Value"], add.inputs[0])
        add.inputs[1].default_value = float(p[i, 3])
        rows.append(add)
    # Blender's image UV: u = px / width, v = 1 - py / height (the backend's row 0 is the top).
    uv = []
    for i, (scale, offset) in enumerate(((1.0 / camera["width"], 0.0), (-1.0 / camera["height"], 1.0))):
        div = node("ShaderNodeMath", 600, 100 - 200 * i, operation="DIVIDE")
        links.new(rows[i].outputs[0], div.inputs[0])
        links.new(rows[2].outputs[0], div.inputs[1])
        fit = node("ShaderNodeMath", 800, 100 - 200 * i, operation="MULTIPLY_ADD")
        links.new(div.outputs[0], fit.inputs[0])
        fit.inputs[1].default_value, fit.inputs[2].default_value = scale, offset
        uv.append(fit)
    combine = node("ShaderNodeCombineXYZ", 1000, 0)
    links.new(uv[0].outputs[0], combine.inputs["X"])
    links.new(uv[1].outputs[0], combine.inputs["Y"])
    tex = node("ShaderNodeTexImage", 1200, 0, image=image, extension="CLIP", interpolation="Linear")
    links.new(combine.outputs["Vector"], tex.inputs["Vector"])
    # grey + alpha * (photo - grey): the photo where it shows the person, grey elsewhere.
    minus = node("ShaderNodeVectorMath", 1000, -300, operation="SUBTRACT")
    links.new(tex.outputs["Color"], minus.inputs[0])
    minus.inputs[1].default_value = UNSEEN_GREY
    scale = node("ShaderNodeVectorMath", 1150, -300, operation="SCALE")
    links.new(minus.outputs["Vector"], scale.inputs[0])
    links.new(tex.outputs["Alpha"], scale.inputs["Scale"])
    plus = node("ShaderNodeVectorMath", 1300, -300, operation="ADD")
    links.new(scale.outputs["Vector"], plus.inputs[0])
    plus.inputs[1].default_value = UNSEEN_GREY
    links.new(plus.outputs["Vector"], bsdf.inputs["Base Color"])
    return mat

