#!/usr/bin/env bash
# The checks only a machine with an NVIDIA GPU can make (docs/benchmarks.md, "Diffusion"), in one go:
#   1. the full-size random-weight benchmark in fp16: load, one view, the back redraw, a whole digitize;
#   2. the same with model CPU offload + attention slicing (the small-GPU path), views only;
#   3. the CUDA tests (fp16 and offload through the registry, tiny models; nvdiffrast against the CPU
#      rasteriser when nvdiffrast is installed).
# Run from the repository root:  tools/gpu_checks.sh [RESULTS_DIR]   (default gpu-results/)
# PYTHON: the environment's interpreter (default .venv/bin/python). Estimated 5 minutes on a large GPU.
# Exits non-zero when any step failed; every step's output is also in RESULTS_DIR.
# The SD-1.5-shaped models are built once (random weights, nothing downloaded) and shared by 1 and 2.
# SIZE=tiny DEVICE=cpu runs the same steps with the test models on the CPU (checks this script).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SIZE=${SIZE:-sd15}
DEVICE=${DEVICE:-cuda}
OUT=${1:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
MODELS=$(mktemp -d "${TMPDIR:-/tmp}/sd15-random-XXXXXX")
trap 'rm -rf "$MODELS"' EXIT

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PY" -c "import torch, diffusers, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'diffusers', diffusers.__version__, 'numpy', numpy.__version__)" 2>&1 | tee -a "$OUT/gpu.txt"

echo "== building the random-weight inpainting + normal ControlNet ($SIZE)"
timeout 300 "$PY" -c "import sys; from pathlib import Path; from lab.bench_diffusion import build_in_child
print(f'built in {build_in_child(Path(sys.argv[1]), sys.argv[2]):.0f} s')" "$MODELS" "$SIZE" >"$OUT/build.txt" 2>&1 \
    || { tail -20 "$OUT/build.txt"; echo "building the models failed: nothing measured"; exit 1; }

failed=0
echo "== whole digitize ($DEVICE)"
timeout 420 "$PY" -m lab.bench_diffusion --device "$DEVICE" --models-dir "$MODELS" 2>&1 \
    | tee "$OUT/bench_cuda.txt" || failed=1
echo "== offload + attention slicing, views only ($DEVICE)"
timeout 240 "$PY" -m lab.bench_diffusion --device "$DEVICE" --offload --no-digitize --runs 2 --models-dir "$MODELS" \
    2>&1 | tee "$OUT/bench_offload.txt" || failed=1
echo "== CUDA tests"
timeout 240 "$PY" -m pytest tests/test_diffusion.py tests/test_raster.py -m cuda -q -p no:cacheprovider 2>&1 \
    | tee "$OUT/pytest_cuda.txt" || failed=1
exit $failed
