"""Perceptual loss for texture fusion: LPIPS (AlexNet) without downloads, or a weight-free substitute.

    fn, name, notes = load_perceptual("auto")   # fn(x, y) -> scalar; x, y (N, 3, H, W) in [0, 1]

LPIPS needs two sets of weights:
- its linear calibration layers, shipped inside the `lpips` wheel (lpips/weights/v0.1/alex.pth);
- the ImageNet AlexNet backbone, which `lpips` would normally fetch through torchvision
  (AlexNet_Weights.IMAGENET1K_V1, file `alexnet-owt-7be5be79.pth`). We never let it: the
  model is built with `pnet_rand=True` (no download, random backbone) and the real backbone
  weights are then loaded from a local file: $PHOTO_DIGITIZE_LPIPS_BACKBONE (the file, or a
  folder holding it) or torch hub's cache `<torch.hub.get_dir()>/checkpoints/alexnet-owt-7be5be79.pth`.
  Without that file a random backbone would be a meaningless loss, so it is never used: the
  loader returns the substitute instead and says so in its notes.

Substitute ("substitute-msgrad-ssim"): deterministic and weight-free. On a 4-level Gaussian
pyramid, the mean over levels of  L1(Sobel gradients of x, of y) + (1 - SSIM(x, y))
(SSIM with a 7-tap Gaussian window, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2, per RGB channel).

Both losses are modules with `prepare(y)` (target-side work, done once per view) and
`compare(x, prepared)`; calling `fn(x, y)` does both.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ..notes import Note

LPIPS_NAME = "lpips-alex"
SUBSTITUTE_NAME = "substitute-msgrad-ssim"
BACKBONE_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1
BACKBONE_SHA256_PREFIX = "7be5be79"  # torchvision names its files after their sha256
BACKBONE_ENV = "PHOTO_DIGITIZE_LPIPS_BACKBONE"
KINDS = ("auto", "lpips", "substitute", "none")

# lpips.pretrained_networks.alexnet puts torchvision's alexnet.features[i] into net.slice<k>.<i>:
# slice1 = features[0:2], slice2 = [2:5], slice3 = [5:8], slice4 = [8:10], slice5 = [10:12].
_ALEX_SLICES = ((1, range(0, 2)), (2, range(2, 5)), (3, range(5, 8)), (4, range(8, 10)), (5, range(10, 12)))


class PerceptualLoss(torch.nn.Module):
    name = "perceptual"

    def prepare(self, y: torch.Tensor):
        raise NotImplementedError

    def compare(self, x: torch.Tensor, prepared) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.compare(x, self.prepare(y))


# --- LPIPS ---------------------------------------------------------------------------------


def backbone_candidates() -> list[Path]:
    """Where the AlexNet backbone weights are looked for, in order."""
    out = []
    env = os.environ.get(BACKBONE_ENV)
    if env:
        p = Path(env).expanduser()
        out.append(p / BACKBONE_FILE if p.is_dir() else p)
    out.append(Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILE)
    return out


def find_backbone() -> Path | None:
    for p in backbone_candidates():
        if p.is_file():
            return p
    return None


def alexnet_features_to_lpips(state_dict: dict) -> dict:
    """torchvision AlexNet state dict (features.<i>.weight/bias) -> lpips `net` keys (slice<k>.<i>.*)."""
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    slice_of = {i: k for k, idx in _ALEX_SLICES for i in idx}
    out = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "module":  # saved from a DataParallel wrapper
            parts = parts[1:]
        if len(parts) == 3 and parts[0] == "features" and parts[1].isdigit() and int(parts[1]) in slice_of:
            i = int(parts[1])
            out[f"slice{slice_of[i]}.{i}.{parts[2]}"] = value
    return out


class LpipsAlex(PerceptualLoss):
    """LPIPS v0.1 with the AlexNet trunk (the same sum as lpips.LPIPS.forward, spatial=False)."""

    name = LPIPS_NAME

    def __init__(self, model, official: bool = True):
        super().__init__()
        self.model = model
        self.official = official  # the backbone file's sha256 matches torchvision's

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        import lpips

        h = self.model.scaling_layer(2.0 * x - 1.0)
        return [lpips.normalize_tensor(f) for f in self.model.net(h)]

    def prepare(self, y: torch.Tensor):
        with torch.no_grad():
            return [f.detach() for f in self._features(y)]

    def compare(self, x: torch.Tensor, prepared) -> torch.Tensor:
        total = x.new_zeros(())
        for lin, fx, fy in zip(self.model.lins, self._features(x), prepared, strict=True):
            total = total + lin((fx - fy) ** 2).mean(dim=(2, 3))
        return total.mean()


@lru_cache(maxsize=4)
def _build_lpips(path: str, _stamp: tuple, device: str) -> LpipsAlex:
    import hashlib

    import lpips

    with open(path, "rb") as f:
        official = hashlib.file_digest(f, "sha256").hexdigest().startswith(BACKBONE_SHA256_PREFIX)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, got {type(state).__name__}")
    mapped = alexnet_features_to_lpips(state)
    if not mapped:
        raise ValueError("no AlexNet `features.<i>` weights in the file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pretrained=True: linear layers from inside the wheel; pnet_rand=True: no backbone download.
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    model.net.load_state_dict(mapped, strict=True)  # raises on missing keys or wrong shapes
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LpipsAlex(model, official).to(device).eval()


def load_lpips(path: Path, device: str = "cpu") -> LpipsAlex:
    st = path.stat()
    return _build_lpips(str(path.resolve()), (st.st_mtime_ns, st.st_size), str(device))


# --- substitute --------------------------------------------------------------------------------


def _gaussian_kernel(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


class MsGradSsim(PerceptualLoss):
    """Multi-scale Sobel-gradient L1 + (1 - SSIM) on a Gaussian pyramid; no learned weights."""

    name = SUBSTITUTE_NAME
    C1, C2 = 0.01**2, 0.03**2
    window: torch.Tensor  # buffers (register_buffer), declared for the type checker
    sobel: torch.Tensor
    blur: torch.Tensor

    def __init__(self, levels: int = 4, window: int = 7, sigma: float = 1.5):
        super().__init__()
        self.levels = levels
        g = _gaussian_kernel(window, sigma)
        self.register_buffer("window", g[None, None].repeat(3, 1, 1, 1))
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
        sobel = torch.stack([sobel_x, sobel_x.T])[:, None]  # (2, 1, 3, 3)
        self.register_buffer("sobel", sobel.repeat(3, 1, 1, 1))  # (6, 1, 3, 3): x, y per channel
        blur = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
        blur = torch.outer(blur, blur) / 256.0
        self.register_buffer("blur", blur[None, None].repeat(3, 1, 1, 1))

    def _filter(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        k = kernel.shape[-1] // 2
        return F.conv2d(F.pad(x, (k, k, k, k), mode="replicate"), kernel, groups=3)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [x]
        while len(out) < self.levels and min(out[-1].shape[-2:]) >= 16:
            out.append(F.avg_pool2d(self._filter(out[-1], self.blur), 2, ceil_mode=True))
        return out

    def _stats(self, y: torch.Tensor):
        mu = self._filter(y, self.window)
        var = self._filter(y * y, self.window) - mu * mu
        return y, self._filter(y, self.sobel), mu, var

    def prepare(self, y: torch.Tensor):
        with torch.no_grad():
            return [tuple(t.detach() for t in self._stats(level)) for level in self._pyramid(y)]

    def compare(self, x: torch.Tensor, prepared) -> torch.Tensor:
        total = x.new_zeros(())
        window9 = self.window.repeat(3, 1, 1, 1)
        k = int(self.window.shape[-1]) // 2
        for xl, (yl, gy, mu_y, var_y) in zip(self._pyramid(x), prepared, strict=True):
            gx = self._filter(xl, self.sobel)
            # E[x], E[x^2], E[xy] in one grouped convolution
            moments = torch.cat([xl, xl * xl, xl * yl], dim=1)
            mom = F.conv2d(F.pad(moments, (k, k, k, k), mode="replicate"), window9, groups=9)
            mu_x, ex2, exy = mom[:, 0:3], mom[:, 3:6], mom[:, 6:9]
            var_x = ex2 - mu_x * mu_x
            cov = exy - mu_x * mu_y
            ssim = ((2 * mu_x * mu_y + self.C1) * (2 * cov + self.C2)) / (
                (mu_x * mu_x + mu_y * mu_y + self.C1) * (var_x + var_y + self.C2)
            )
            total = total + (gx - gy).abs().mean() + (1.0 - ssim).mean()
        return total / len(prepared)


# --- the loader --------------------------------------------------------------------------------


def load_perceptual(kind: str = "auto", device: str = "cpu") -> tuple[PerceptualLoss | None, str, list[str]]:
    """(loss module or None, its name, plain-language notes) for kind "auto" | "lpips" | "substitute" | "none".

    "auto" and "lpips" both give LPIPS only when the AlexNet backbone weights are on disk;
    otherwise the substitute, with a note saying where the weights were looked for.
    Nothing is ever downloaded.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown perceptual loss {kind!r}; choose one of {KINDS}")
    if kind == "none":
        return None, "none", ["no perceptual loss (L1 only)"]
    if kind == "substitute":
        return MsGradSsim().to(device), SUBSTITUTE_NAME, [f"perceptual loss: {SUBSTITUTE_NAME} (as requested)"]
    notes = []
    path = find_backbone()
    if path is not None:
        try:
            fn = load_lpips(path, device)
            notes = [f"LPIPS (AlexNet) backbone weights loaded from {path}"]
            if not fn.official:
                notes.append(Note(f"that file's sha256 does not start with {BACKBONE_SHA256_PREFIX}: "
                                  "it is not torchvision's AlexNet_Weights.IMAGENET1K_V1 file", "lpips_unofficial"))
            return fn, LPIPS_NAME, notes
        except Exception as exc:  # corrupt / wrong file: fall through to the substitute
            notes.append(Note(f"LPIPS backbone weights at {path} could not be loaded ({type(exc).__name__}: {exc})",
                              "lpips_missing"))
    else:
        where = " or ".join(str(p) for p in backbone_candidates())
        notes.append(Note(f"LPIPS backbone weights ({BACKBONE_FILE}) not found at {where}", "lpips_missing"))
    notes.append(Note(
        f"used the substitute perceptual loss {SUBSTITUTE_NAME} (multi-scale gradient L1 + 1 - SSIM) instead; "
        f"`install_deps.py --models` will fetch the LPIPS backbone weights (or set {BACKBONE_ENV})", "lpips_missing"
    ))
    if kind == "lpips":
        notes.insert(0, Note("perceptual='lpips' was requested, but a randomly initialised backbone is never used",
                             "lpips_missing"))
    return MsGradSsim().to(device), SUBSTITUTE_NAME, notes
