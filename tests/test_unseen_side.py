"""The side the photo never saw, on people (issue 14): the back of each limb from that limb.

A synthetic person (backend/synthetic/people.py) with crossed arms is photographed and digitized
as a user would; the result's back is rendered and compared with the person's true colours. Where
the truth is the back of the shirt, the result must not show the forearms that lay across the
belly in the photo. Measured at the test's size: the front carried round straight through (as before
this issue) paints 6.2 % of the back's shirt pixels skin; taking each limb from its own pixels, 0.6 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from backend.conventions import orbit_camera
from backend.eval.scoring import render_textured
from backend.export.mesh_io import load_user_mesh
from backend.pipeline import DigitizeOptions, run_digitize
from backend.progress import Progress
from backend.raster import render_maps
from backend.synthetic.people import make_person
from backend.synthetic.photo import save_photo, take_photo

pytestmark = pytest.mark.slow  # one person digitized at a small size: about 30 s on 2 CPU cores

TRUNK = ("torso", "pelvis")


def digitize_person(name: str, folder):
    """The person, and their digitized result's mesh and texture."""
    person = make_person(name)
    photo = save_photo(take_photo(person), folder / f"{name}.jpg")
    options = DigitizeOptions(height_m=round(person.standing_height_m, 4), map_resolution=256, texture_resolution=512)
    run_digitize(photo, folder / name, options, Progress(quiet=True))
    mesh = load_user_mesh(folder / name / "mesh.obj")
    return person, mesh, np.asarray(Image.open(folder / name / "texture.png").convert("RGB"))


def skin_on_the_back_of_the_shirt(person, mesh, texture) -> float:
    """Of the pixels where the person's back is their top's cloth, the fraction the result paints skin."""
    z = person.height_m / 2
    cam = orbit_camera(180.0, 0.0, target=np.array([0.0, 0.0, z]), extent_m=person.height_m * 1.1, resolution=512,
                       name="back")
    image, covered = render_textured(mesh, texture, cam, background=(1.0, 1.0, 1.0))
    truth = render_maps(person.mesh, [cam], backend="cpu")[0]
    _, parts, materials = person.surface(truth.position[truth.mask])
    shirt = np.zeros_like(truth.mask)
    shirt[truth.mask] = np.isin(parts, TRUNK) & (materials != "skin") & (materials != "hair")
    shirt &= covered
    assert shirt.sum() > 5000  # the back of the shirt is in view
    skin = np.asarray(person.palette["skin"])
    return float((np.abs(image[shirt] - skin).max(axis=1) < 0.12).mean())


def test_the_back_of_crossed_arms_is_the_shirt_not_the_forearms(tmp_path):
    person, mesh, texture = digitize_person("arms_crossed", tmp_path)
    assert skin_on_the_back_of_the_shirt(person, mesh, texture) < 0.02
