"""The lab: what measures the product, kept out of what ships.

- `lab.synthetic`: people and figures of known 3D and colour, and the photos taken of them;
- `lab.eval`: the result and the shape stage scored against that truth (`python -m lab.eval`);
- `lab.bench`, `lab.bench_diffusion`: speed and memory per stage (`python -m lab.bench`);
- `lab.random_weights`: tiny and full-size models with random weights, for the loading code's tests.

The extension zip (`tools/build_extension.py`) bundles `backend/` only; nothing in `backend/` imports
from here.
"""
