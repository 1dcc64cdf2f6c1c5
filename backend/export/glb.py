"""Binary glTF 2.0 (.glb) of a textured mesh: one mesh, one PBR material, the texture embedded as PNG.

Written by hand (it is short) so every convention is explicit:

- glTF is Y up: the world point (x, y, z) (Blender's frame, Z up, person facing -Y) is stored
  as (x, z, -y). Blender's glTF importer and `load_user_mesh` map it back to (x, y, z).
  The map is a rotation, so the triangles' winding (counter-clockwise outside) is kept.
- glTF texture coordinates start at the TOP-left of the image: v_gltf = 1 - v.
- glTF has one index buffer, so every distinct (vertex, uv) corner pair becomes one glTF
  vertex (vertices split along UV seams). Normals come from the unsplit geometry, so the
  two sides of a seam share a normal and no shading seam shows.

- With a rig (backend/rig), the mesh is skinned: one node per bone (the bind pose is the mesh
  as it is, so each inverse bind matrix is the inverse of its bone's world matrix), at most 4
  bones per vertex (JOINTS_0, WEIGHTS_0 summing to 1).
  A rig bound in a neutral rest pose carries the photo's pose as the animation `photo_pose`:
  one keyframe (time 0) of each joint's translation and rotation, which Blender's importer makes
  an Action of.

The file is written under a temporary name in the same folder and renamed when complete.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..files import encode_png, write_atomic
from ..mesh import Mesh

GLB_MAGIC = 0x46546C67  # b"glTF"
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5121, 5123, 5125
LINEAR, LINEAR_MIPMAP_LINEAR, CLAMP_TO_EDGE = 9729, 9987, 33071
ROUGHNESS = 0.8

# Blender/world (x, y, z) -> glTF (x, z, -y): rows are the glTF axes in world coordinates.
WORLD_TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def split_uv_seams(mesh: Mesh) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One output vertex per distinct (vertex, uv) corner pair.

    Returns (vertex_index (N,), uv_index (N,), faces (F, 3) into the N output vertices).
    Without UVs: the vertices the faces use, uv_index None.
    """
    if not mesh.has_uv:
        used, inverse = np.unique(np.asarray(mesh.faces, np.int64), return_inverse=True)
        return used, None, inverse.reshape(mesh.faces.shape)
    uv, faces_uv = mesh.uv_layout()
    faces, faces_uv = np.asarray(mesh.faces, np.int64), np.asarray(faces_uv, np.int64)
    key = faces.reshape(-1) * np.int64(len(uv)) + faces_uv.reshape(-1)
    unique, inverse = np.unique(key, return_inverse=True)
    return unique // len(uv), unique % len(uv), inverse.reshape(faces.shape)


def _pad4(data: bytes, fill: bytes = b"\0") -> bytes:
    return data + fill * (-len(data) % 4)


def _gltf_matrix(bone_to_world: np.ndarray) -> np.ndarray:
    """(..., 4, 4) bone-to-world matrices as bone-to-glTF-world (Y up): only the world side turns,
    so a bone keeps its own axes (Y from head to tail) and Blender's importer finds them again."""
    c = np.eye(4)
    c[:3, :3] = WORLD_TO_GLTF
    return c @ bone_to_world


def _local_transforms(rig, bone_to_world: np.ndarray) -> np.ndarray:
    """(B, 4, 4) each bone relative to its parent (a root: to the glTF world), in glTF's frame."""
    world = _gltf_matrix(bone_to_world)
    parents = rig.skeleton.parents
    return np.stack([world[b] if p < 0 else np.linalg.inv(world[p]) @ world[b] for b, p in enumerate(parents)])


def _joint_nodes(rig, first: int) -> tuple[list[dict], list[int], np.ndarray]:
    """glTF nodes for the rig's bones (indices from `first`), the root bones' node indices, and the
    inverse bind matrices (B, 4, 4), all in glTF's frame."""
    from scipy.spatial.transform import Rotation

    sk = rig.skeleton
    nodes, roots = [], []
    for b, (parent, local) in enumerate(zip(sk.parents, _local_transforms(rig, sk.bind), strict=True)):
        nodes.append({"name": sk.names[b], "translation": local[:3, 3].tolist(),
                      "rotation": Rotation.from_matrix(local[:3, :3]).as_quat().tolist()})  # x, y, z, w as glTF
        if parent < 0:
            roots.append(first + b)
        else:
            nodes[parent].setdefault("children", []).append(first + b)
    return nodes, roots, np.linalg.inv(_gltf_matrix(sk.bind))


def _pose_animation(rig, first: int, add_accessor) -> dict:
    """The glTF animation `photo_pose`: the photo's pose as one keyframe of every joint's translation
    and rotation. `add_accessor(array, type)` stores an array and returns its accessor's index."""
    from scipy.spatial.transform import Rotation

    local = _local_transforms(rig, rig.photo_pose)
    time_accessor = add_accessor(np.zeros((1, 1), np.float32), "SCALAR", minmax=True)
    samplers, channels = [], []
    for b, m in enumerate(local):
        values = {"translation": (m[:3, 3], "VEC3"), "rotation": (Rotation.from_matrix(m[:3, :3]).as_quat(), "VEC4")}
        for path, (value, kind) in values.items():
            output = add_accessor(np.asarray(value, np.float32)[None], kind)
            samplers.append({"input": time_accessor, "output": output, "interpolation": "STEP"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": first + b, "path": path}})
    return {"name": "photo_pose", "samplers": samplers, "channels": channels}


def glb_chunks(mesh: Mesh, texture: np.ndarray | None, *, name: str = "avatar", rig=None) -> list[bytes]:
    """The GLB file as a list of byte strings (header, JSON chunk, BIN chunk) to concatenate.

    With a `rig` (backend.rig.Rig made for this mesh), the mesh is skinned: one joint node per
    bone in the bind pose (the mesh as it is), JOINTS_0/WEIGHTS_0 per vertex, and the inverse
    bind matrices; Blender's importer makes an armature of it.
    """
    vidx, tidx, faces = split_uv_seams(mesh)
    normals = mesh.vertex_normals()[vidx]
    normals[np.linalg.norm(normals, axis=1) < 0.5] = (0.0, 0.0, 1.0)  # only degenerate faces: any unit vector
    normals = normals @ WORLD_TO_GLTF.T
    positions = np.asarray(mesh.vertices, np.float64)[vidx] @ WORLD_TO_GLTF.T
    attributes = [("POSITION", positions.astype(np.float32), "VEC3"), ("NORMAL", normals.astype(np.float32), "VEC3")]
    if tidx is not None:
        uv = np.asarray(mesh.uv, np.float64)[tidx]
        uv_gltf = np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1)  # glTF's texcoord origin is the top-left
        attributes.append(("TEXCOORD_0", uv_gltf.astype(np.float32), "VEC2"))
    if rig is not None:
        bone_type = np.uint8 if len(rig.skeleton.names) < 256 else np.uint16
        weights = rig.skin.weights[vidx].astype(np.float32)
        weights /= weights.sum(axis=1, keepdims=True)  # in float32: the spec wants sums of 1
        attributes += [("JOINTS_0", rig.skin.joints[vidx].astype(bone_type), "VEC4"), ("WEIGHTS_0", weights, "VEC4")]

    big = len(vidx) > 65535
    indices = faces.astype(np.uint32 if big else np.uint16).reshape(-1)

    bin_parts: list[bytes] = []
    buffer_views: list[dict] = []
    offset = 0

    def add_view(data: bytes, target: int | None) -> int:
        nonlocal offset
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        buffer_views.append(view)
        padded = _pad4(data)
        bin_parts.append(padded)
        offset += len(padded)
        return len(buffer_views) - 1

    accessors: list[dict] = []
    prim_attributes: dict[str, int] = {}
    component = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UNSIGNED_BYTE, np.dtype(np.uint16): UNSIGNED_SHORT}
    for key, array, kind in attributes:
        accessor = {"bufferView": add_view(array.tobytes(), ARRAY_BUFFER), "componentType": component[array.dtype],
                    "count": len(array), "type": kind}
        if key == "POSITION":  # required by the spec for POSITION
            accessor["min"] = array.min(axis=0).tolist()
            accessor["max"] = array.max(axis=0).tolist()
        accessors.append(accessor)
        prim_attributes[key] = len(accessors) - 1
    accessors.append({"bufferView": add_view(indices.tobytes(), ELEMENT_ARRAY_BUFFER),
                      "componentType": UNSIGNED_INT if big else UNSIGNED_SHORT, "count": len(indices),
                      "type": "SCALAR", "min": [int(indices.min())], "max": [int(indices.max())]})
    index_accessor = len(accessors) - 1

    pbr: dict = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": ROUGHNESS}
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "photo-digitize backend.export.glb"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{"name": name, "primitives": [{"attributes": prim_attributes, "indices": index_accessor,
                                                   "material": 0, "mode": 4}]}],
        "materials": [{"name": f"{name}_material", "pbrMetallicRoughness": pbr, "doubleSided": False}],
    }
    if texture is not None and tidx is not None:
        image_view = add_view(encode_png(texture), None)
        pbr["baseColorTexture"] = {"index": 0, "texCoord": 0}
        gltf["samplers"] = [{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR,
                             "wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE}]
        gltf["images"] = [{"bufferView": image_view, "mimeType": "image/png", "name": f"{name}_texture"}]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
    if rig is not None:
        first = len(gltf["nodes"])
        joint_nodes, roots, inverse_bind = _joint_nodes(rig, first)
        ibm = np.ascontiguousarray(inverse_bind.transpose(0, 2, 1), dtype=np.float32)  # column-major, as glTF reads
        accessors.append({"bufferView": add_view(ibm.tobytes(), None), "componentType": FLOAT,
                          "count": len(ibm), "type": "MAT4"})
        gltf["skins"] = [{"name": f"{name}_rig", "inverseBindMatrices": len(accessors) - 1, "skeleton": roots[0],
                          "joints": list(range(first, first + len(joint_nodes)))}]
        gltf["nodes"][0]["skin"] = 0
        gltf["nodes"] += joint_nodes
        gltf["scenes"][0]["nodes"] += roots
        if rig.photo_pose is not None:
            def add_accessor(array: np.ndarray, kind: str, minmax: bool = False) -> int:
                accessor = {"bufferView": add_view(array.tobytes(), None), "componentType": FLOAT,
                            "count": len(array), "type": kind}
                if minmax:  # required by the spec for an animation's input (its times)
                    accessor.update(min=array.min(axis=0).tolist(), max=array.max(axis=0).tolist())
                accessors.append(accessor)
                return len(accessors) - 1

            gltf["animations"] = [_pose_animation(rig, first, add_accessor)]
    gltf["accessors"] = accessors
    gltf["bufferViews"] = buffer_views
    gltf["buffers"] = [{"byteLength": offset}]

    json_chunk = _pad4(json.dumps(gltf, separators=(",", ":")).encode("utf-8"), b" ")
    total = 12 + 8 + len(json_chunk) + 8 + offset
    return [
        struct.pack("<III", GLB_MAGIC, 2, total),
        struct.pack("<II", len(json_chunk), CHUNK_JSON),
        json_chunk,
        struct.pack("<II", offset, CHUNK_BIN),
        *bin_parts,
    ]


def glb_bytes(mesh: Mesh, texture: np.ndarray | None, *, name: str = "avatar", rig=None) -> bytes:
    return b"".join(glb_chunks(mesh, texture, name=name, rig=rig))


def write_glb(mesh: Mesh, texture: np.ndarray | None, path: str | Path, *, name: str = "avatar", rig=None) -> Path:
    """Write `mesh` (world frame, Z up) with its texture ((R, R, 3) uint8, row 0 = top) as a .glb.

    A mesh without UVs (or texture None) gets a plain white material and no texture.
    """
    if texture is not None and not mesh.has_uv:
        raise ValueError("a textured GLB needs a mesh with UVs (uv and faces_uv)")
    return write_atomic(path, glb_chunks(mesh, texture, name=name, rig=rig))


def read_glb_json(path: str | Path) -> tuple[dict, bytes]:
    """The JSON document and the BIN chunk of a .glb (for checks; no validation beyond the header)."""
    data = Path(path).read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2 or length != len(data):
        raise ValueError(f"{path}: not a glTF 2.0 binary file")
    json_len, json_type = struct.unpack_from("<II", data, 12)
    if json_type != CHUNK_JSON:
        raise ValueError(f"{path}: the first chunk is not JSON")
    doc = json.loads(data[20 : 20 + json_len])
    binary = b""
    pos = 20 + json_len
    if pos < len(data):
        bin_len, bin_type = struct.unpack_from("<II", data, pos)
        if bin_type == CHUNK_BIN:
            binary = data[pos + 8 : pos + 8 + bin_len]
    return doc, binary
