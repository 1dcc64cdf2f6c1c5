"""Backend of the photo-to-3D-human Blender add-on. Run `python -m backend --help`."""

import os

# torch's OpenMP workers (GNU libgomp in the Linux wheels) spin 300,000 times before they sleep. On cores
# that something else also wants (Blender beside the job, another app) the spinning takes the time the
# work needs: on 2 cores busy with two other processes the sample's digitize took 84-99 s, with 10,000
# spins 57-65 s, and on idle cores 28-30 s either way (docs/benchmarks.md). Set here, before anything
# loads torch; a value the user set wins. (macOS wheels use LLVM's libomp, which does not read it.)
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"
