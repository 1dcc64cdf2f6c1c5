"""Backend of the photo-to-3D-human Blender add-on. Run `python -m backend --help`."""

__version__ = "0.1.0"
