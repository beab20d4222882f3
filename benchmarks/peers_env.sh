#!/usr/bin/env bash
# Create the environment of benchmarks/bench_peers.py: this package plus its peers,
# DeepCTR-Torch and torch-rechub. The peers are never dependencies of the package
# or of its tests; they live in this separate virtual environment only.
#
#   benchmarks/peers_env.sh VENV_DIR
#   VENV_DIR/bin/python benchmarks/bench_peers.py --output benchmarks/results_peers.txt \
#       --plot benchmarks/results_peers.png
#
# TORCH_INDEX_URL overrides where the CPU build of torch comes from.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"

python3 -m venv "$venv"
pip="$venv/bin/pip"
# Pinned, and the CPU build: an unpinned torch from PyPI pulls a multi-GB CUDA build.
"$pip" install --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" "torch==2.13.0"
"$pip" install scikit-learn pandas tqdm matplotlib
# --no-deps: their requirements would replace the pinned torch. DeepCTR-Torch's only
# other requirement, requests, serves its version check against PyPI at import, which
# bench_peers.py stubs out (the benchmark makes no network call).
"$pip" install --no-deps deepctr-torch torch-rechub
"$pip" install -e "$root"
