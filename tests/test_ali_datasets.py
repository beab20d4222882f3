"""Ali-CCP and AliExpress loaders: the real tiny samples (when present) and
synthetic files in the same published formats."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import ESMMClassifier
from sklearn_mtl.datasets import load_ali_ccp, load_aliexpress

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ALI_CCP = SHARED / "ali_ccp_tiny_sample"
ALIEXPRESS = SHARED / "aliexpress_tiny_sample"

RECHUB_SPARSE = [
    "101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207",
    "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14",
]  # fmt: skip
RECHUB_DENSE = ["D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853"]
AITM_IDS = [
    "101", "121", "122", "124", "125", "126", "127", "128", "129",
    "205", "206", "207", "216", "508", "509", "702", "853", "301",
]  # fmt: skip


def funnel_labels(rng, n):
    click = rng.randint(0, 2, n)
    return click, click * rng.randint(0, 2, n)


def write_rechub(folder, subset, n, seed=0):
    rng = np.random.RandomState(seed)
    click, purchase = funnel_labels(rng, n)
    frame = pd.DataFrame({"click": click, "purchase": purchase})
    for c in RECHUB_SPARSE:
        frame[c] = rng.randint(0, 20, n)
    for c in RECHUB_DENSE:
        frame[c] = rng.random_sample(n).round(4)
    frame.to_csv(folder / f"ali_ccp_{subset}.csv", index=False)
    return frame


def write_aitm(folder, name, n, header, seed=0):
    rng = np.random.RandomState(seed)
    columns = ["click", "purchase", *AITM_IDS]
    frame = pd.DataFrame(rng.randint(0, 500_000, size=(n, 20)), columns=columns)
    frame["click"], frame["purchase"] = funnel_labels(rng, n)
    frame.to_csv(folder / name, index=False, header=header)
    return frame


def write_aliexpress(folder, subset, n, seed=0):
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame({"search_id": np.repeat(np.arange(n // 4 + 1), 4)[:n]})
    for k in range(1, 17):
        frame[f"categorical_{k}"] = rng.randint(0, 30, n)
    for k in range(1, 64):
        frame[f"numerical_{k}"] = rng.random_sample(n)
    frame["click"], frame["conversion"] = funnel_labels(rng, n)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{subset}.csv", index=False)
    return frame


def check_bunch(bunch, n, n_categorical, n_numeric):
    assert bunch.data.shape == (n, n_categorical + n_numeric)
    assert list(bunch.target.columns) == ["click", "conversion"] == bunch.target_names
    assert bunch.target.dtypes.eq("int64").all()
    categorical = bunch.data[bunch.categorical_features]
    assert len(bunch.categorical_features) == n_categorical
    assert all(isinstance(d, pd.CategoricalDtype) for d in categorical.dtypes)
    numeric = bunch.data.drop(columns=bunch.categorical_features)
    assert numeric.dtypes.eq("float64").all() and numeric.shape[1] == n_numeric
    assert bunch.feature_names == list(bunch.data.columns)
    assert bunch.DESCR.strip()


def test_ali_ccp_rechub_format_synthetic(tmp_path):
    written = write_rechub(tmp_path, "val", 40)
    bunch = load_ali_ccp(tmp_path, subset="val")
    check_bunch(bunch, 40, len(RECHUB_SPARSE), len(RECHUB_DENSE))
    np.testing.assert_array_equal(bunch.target["conversion"], written["purchase"])
    np.testing.assert_allclose(bunch.data["D508"], written["D508"])
    X, Y = load_ali_ccp(tmp_path, subset="val", return_X_y=True)
    assert X.shape == (40, 31) and Y.shape == (40, 2)


@pytest.mark.parametrize(
    "name, subset, header", [("ctr_cvr.dev", "val", True), ("test.csv", "test", False)]
)
def test_ali_ccp_aitm_format_with_or_without_header(tmp_path, name, subset, header):
    written = write_aitm(tmp_path, name, 30, header)
    bunch = load_ali_ccp(tmp_path, subset=subset)
    check_bunch(bunch, 30, len(AITM_IDS), 0)
    assert bunch.data["101"].cat.categories.dtype == np.int64
    np.testing.assert_array_equal(bunch.data["101"].astype(np.int64), written["101"])


def test_aliexpress_synthetic_with_country_folders_and_groups(tmp_path):
    written = write_aliexpress(tmp_path / "AliExpress_FR", "test", 30)
    bunch = load_aliexpress(tmp_path, subset="test", country="FR")
    check_bunch(bunch, 30, 16, 63)
    np.testing.assert_array_equal(bunch.groups, written["search_id"])
    assert "search_id" not in bunch.data


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No Ali-CCP file.*Nothing is downloaded"):
        load_ali_ccp(tmp_path)
    with pytest.raises(ValueError, match="subset must be one of"):
        load_aliexpress(tmp_path, subset="val")
    (tmp_path / "ctr_cvr.train").write_text("0,0,1\n1,0,2\n")
    with pytest.raises(ValueError, match="no header and 3 columns"):
        load_ali_ccp(tmp_path)
    pd.DataFrame({"a": [1], "click": [0]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match="not in the AliExpress layout"):
        load_aliexpress(tmp_path)


@pytest.mark.skipif(not ALI_CCP.is_dir(), reason="the shared Ali-CCP samples are absent")
def test_real_ali_ccp_samples():
    rechub = ALI_CCP / "torch_rechub"
    for subset, n in (("train", 100), ("val", 50), ("test", 50)):
        bunch = load_ali_ccp(rechub, subset=subset)
        check_bunch(bunch, n, len(RECHUB_SPARSE), len(RECHUB_DENSE))
    train = load_ali_ccp(rechub)
    assert train.target["click"].sum() == 7 and train.target["conversion"].sum() == 1
    aitm_train = load_ali_ccp(ALI_CCP / "paddlerec_aitm")
    aitm_test = load_ali_ccp(ALI_CCP / "paddlerec_aitm", subset="test")  # no header row
    check_bunch(aitm_train, 48, len(AITM_IDS), 0)
    check_bunch(aitm_test, 50, len(AITM_IDS), 0)
    assert aitm_test.target["click"].sum() == 3
    # The loaded data trains a funnel model as it is.
    model = ESMMClassifier(max_epochs=2, random_state=0, early_stopping=False)
    model.fit(train.data, train.target)
    assert model.predict_proba(load_ali_ccp(rechub, subset="test").data)[0].shape == (50, 2)


@pytest.mark.skipif(not ALIEXPRESS.is_dir(), reason="the shared AliExpress samples are absent")
def test_real_aliexpress_samples():
    train = load_aliexpress(ALIEXPRESS)
    check_bunch(train, 100, 16, 63)
    assert len(np.unique(train.groups)) == 41
    assert train.target["click"].sum() == 60 and train.target["conversion"].sum() == 2
    test = load_aliexpress(ALIEXPRESS, subset="test")
    check_bunch(test, 20, 16, 63)
