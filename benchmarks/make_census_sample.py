"""Build the Census-Income (KDD) subsamples embedded in ``sklearn_mtl``.

Usage::

    python benchmarks/make_census_sample.py SOURCE_DIR [--out-dir DIR]

``SOURCE_DIR`` must hold the UCI files ``census-income.data`` and
``census-income.test`` (gzipped as ``*.gz`` or uncompressed). From each file
the script draws rows uniformly at random without replacement with
``numpy.random.default_rng(seed).choice(n_rows, size, replace=False)``
(a fresh generator, seed 0, for each file), keeps them in their original
order, and writes them byte for byte (original UCI text format) through
``gzip -9 -n`` so that the output is deterministic:

* ``census_income_train_sample.csv.gz``: 20,000 rows of ``census-income.data``
* ``census_income_test_sample.csv.gz``: 10,000 rows of ``census-income.test``

It then prints the row counts, the positive rates of the tasks offered by
:func:`sklearn_mtl.datasets.load_census_income` and the sha256 of the outputs.
"""

import argparse
import gzip
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from sklearn_mtl.datasets._census import _COLLEGE_DEGREES as COLLEGE_DEGREES

DEFAULT_OUT_DIR = (
    Path(__file__).resolve().parents[1] / "sklearn_mtl" / "datasets" / "data"
)

# (source file stem, output file name, number of rows to draw)
SAMPLES = [
    ("census-income.data", "census_income_train_sample.csv.gz", 20_000),
    ("census-income.test", "census_income_test_sample.csv.gz", 10_000),
]

# 0-based column positions in the UCI files
EDUCATION, MARITAL_STAT, INCOME_50K = 4, 7, 41


def read_lines(source_dir, stem):
    """Return the lines (bytes, with their line endings) of one UCI file."""
    gz_path = source_dir / f"{stem}.gz"
    plain_path = source_dir / stem
    if gz_path.is_file():
        with gzip.open(gz_path, "rb") as f:
            return f.readlines()
    if plain_path.is_file():
        with open(plain_path, "rb") as f:
            return f.readlines()
    raise FileNotFoundError(f"neither {gz_path} nor {plain_path} exists")


def gzip_deterministic(data, out_path):
    """Compress ``data`` with ``gzip -9 -n`` into ``out_path``."""
    gzip_exe = shutil.which("gzip")
    if gzip_exe is None:
        raise RuntimeError("the gzip command line tool is required")
    result = subprocess.run(
        [gzip_exe, "-9", "-n", "-c"], input=data, capture_output=True, check=True
    )
    out_path.write_bytes(result.stdout)


def positive_rates(lines):
    fields = [line.decode("ascii").rstrip("\n").split(", ") for line in lines]
    n = len(fields)
    return {
        "income": sum(f[INCOME_50K] == "50000+." for f in fields) / n,
        "never_married": sum(f[MARITAL_STAT] == "Never married" for f in fields) / n,
        "college": sum(f[EDUCATION] in COLLEGE_DEGREES for f in fields) / n,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_dir", type=Path, help="folder with the UCI files")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for stem, out_name, size in SAMPLES:
        lines = read_lines(args.source_dir, stem)
        rng = np.random.default_rng(args.seed)
        idx = np.sort(rng.choice(len(lines), size=size, replace=False))
        sample = [lines[i] for i in idx]
        out_path = args.out_dir / out_name
        gzip_deterministic(b"".join(sample), out_path)
        sha = hashlib.sha256(out_path.read_bytes()).hexdigest()
        rates = ", ".join(f"{k}={v:.4%}" for k, v in positive_rates(sample).items())
        print(f"{out_name}: {len(sample)} of {len(lines)} rows; {rates}")
        print(f"  sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
