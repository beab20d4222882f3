"""Loaders of the real click -> conversion samples for the funnel-model tests."""

from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

def _require(path):
    if not path.exists():
        pytest.skip(f"real data sample {path.name} not found next to this checkout")
    return path


def load_ali_ccp(split="train"):
    """torch-rechub's Ali-CCP sample: X (sparse fields as category), Y [click, purchase]."""
    frame = pd.read_csv(
        _require(DATA_DIR / "ali_ccp_tiny_sample" / "torch_rechub" / f"ali_ccp_{split}_sample.csv")
    )
    Y = frame[["click", "purchase"]]
    X = frame.drop(columns=["click", "purchase"])
    sparse = [c for c in X.columns if not c.startswith("D")]
    return X.astype({c: "category" for c in sparse}), Y


def load_paddlerec_aitm():
    """PaddleRec's AITM sample (train.csv): purchase without click on some rows."""
    frame = pd.read_csv(_require(DATA_DIR / "ali_ccp_tiny_sample" / "paddlerec_aitm" / "train.csv"))
    Y = frame[["click", "purchase"]]
    return frame.drop(columns=["click", "purchase"]).astype("category"), Y


def load_aliexpress(split="train"):
    """The AliExpress sample: 16 categorical, 63 numeric fields, Y [click, conversion]."""
    frame = pd.read_csv(
        _require(DATA_DIR / "aliexpress_tiny_sample" / f"aliexpress_{split}_sample.csv")
    )
    Y = frame[["click", "conversion"]]
    X = frame.drop(columns=["search_id", "click", "conversion"])
    categorical = [c for c in X.columns if c.startswith("categorical_")]
    return X.astype({c: "category" for c in categorical}), Y
