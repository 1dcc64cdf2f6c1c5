"""Where the add-on finds the backend source and keeps its own data (standard library only)."""

from pathlib import Path

# Folder inside the extension zip that carries backend/, install_deps.py and requirements/
# (tools/build_extension.py writes it under the same name).
BUNDLE_DIR = "backend_bundle"

_HERE = Path(__file__).resolve().parent


def backend_root():
    """Folder holding ``backend/`` and ``install_deps.py``, or None when missing.

    Installed extension: ``<extension>/backend_bundle``; repository checkout: the repository root.
    """
    for candidate in (_HERE / BUNDLE_DIR, _HERE.parent):
        if (candidate / "backend" / "__init__.py").is_file() and (candidate / "install_deps.py").is_file():
            return candidate
    return None


def user_data_dir(create=False):
    """Writable per-user folder for this extension (backend environment, model weights), or None.

    Only installed extensions have one (``bpy.utils.extension_path_user``); a plain import from the
    repository returns None and callers pick their own location.
    """
    package = __package__ or ""
    if not package.startswith("bl_ext."):
        return None
    import bpy

    return Path(bpy.utils.extension_path_user(package, create=create))
