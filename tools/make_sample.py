"""Regenerate samples/person.jpg: a synthetic clothed person on a plain background.

The project ships no third-party photos; this figure (lab/synthetic/figure.py) stands in
for one. Run: .venv/bin/python tools/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

from backend.conventions import ORTHOGRAPHIC, Camera, look_at
from lab.synthetic.figure import make_figure, render_figure

SEED, WIDTH, HEIGHT = 3, 768, 1024


def main() -> None:
    fig = make_figure(SEED)
    zc = fig.height_m / 2
    f = HEIGHT / (fig.height_m * 1.25)  # pixels per metre: the person fills 80 % of the height
    cam = Camera(look_at(np.array([0, -10.0, zc]), np.array([0, 0, zc])), WIDTH, HEIGHT, f, f,
                 WIDTH / 2 + 20, HEIGHT / 2 + 10, ORTHOGRAPHIC, "sample")
    rgb, _ = render_figure(fig, cam, background=(0.93, 0.93, 0.91))
    rng = np.random.default_rng(SEED)  # a little sensor noise, as a camera would add
    noisy = np.clip(rgb.astype(np.float64) + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
    out = Path(__file__).resolve().parent.parent / "samples" / "person.jpg"
    Image.fromarray(noisy).save(out, quality=92)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
