import gzip
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl.datasets import load_census_income

# The complete UCI files, if this checkout sits next to the shared data folder.
FULL_DATA_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "census_income_kdd"
)

CONTINUOUS = [
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "stock_dividends",
    "num_emp",
    "weeks_worked",
]
INTEGER_CODED = ["det_ind_code", "det_occ_code", "own_or_self", "vet_benefits", "year"]
MIGRATION = ["mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_prev_sunbelt"]


@pytest.fixture(scope="module")
def train():
    return load_census_income()


@pytest.fixture(scope="module")
def train_education():
    return load_census_income(tasks="education_marital")


def test_default_bunch(train):
    assert train.data.shape == (20_000, 39)
    assert train.target.shape == (20_000, 2)
    assert train.frame.shape == (20_000, 41)
    assert train.target_names == ["income", "never_married"]
    assert list(train.target.columns) == train.target_names
    assert list(train.data.columns) == train.feature_names
    assert list(train.frame.columns) == train.feature_names + train.target_names
    assert len(train.feature_names) == len(set(train.feature_names)) == 39
    for dropped in ["income_50k", "marital_stat", "instance_weight"]:
        assert dropped not in train.feature_names
    assert "education" in train.feature_names
    assert "Census-Income (KDD)" in train.DESCR
    assert "Mixture-of-Experts" in train.DESCR
    assert "CC BY 4.0" in train.DESCR


def test_dtypes(train):
    X, Y = train.data, train.target
    for name in CONTINUOUS:
        assert X[name].dtype == np.float64, name
    categorical = [name for name in X.columns if name not in CONTINUOUS]
    assert len(categorical) == 32
    assert train.categorical_features == categorical
    for name in categorical:
        assert isinstance(X[name].dtype, pd.CategoricalDtype), name
        assert all(isinstance(c, str) for c in X[name].cat.categories), name
        assert list(X[name].cat.categories) == train.categories[name]
    assert list(X["year"].cat.categories) == ["94", "95"]
    assert set(INTEGER_CODED) <= set(categorical)
    assert (Y.dtypes == np.int64).all()
    assert set(np.unique(Y.to_numpy())) == {0, 1}
    assert train.frame["income"].dtype == np.int64


def test_missing_values(train):
    X = train.data
    # '?' is missing: the migration columns are '?' in every 1995 record.
    is_95 = (X["year"] == "95").to_numpy()
    for name in MIGRATION:
        assert X[name].isna().to_numpy()[is_95].all(), name
        assert X[name].notna().to_numpy()[~is_95].all(), name
    assert X["country_self"].isna().any()
    # 'NA' is a genuine hisp_origin category, not a missing value.
    assert X["hisp_origin"].notna().all()
    assert (X["hisp_origin"] == "NA").any()
    # Trailing blanks of the raw values are stripped.
    assert "Foreign born- Not a citizen of U S" in train.categories["citizenship"]
    assert X[CONTINUOUS].notna().all().all()


def test_sample_weight(train):
    w = train.sample_weight
    assert isinstance(w, np.ndarray)
    assert w.dtype == np.float64
    assert w.shape == (20_000,)
    assert np.all(w > 0)
    # First row of the train sample: the third row of census-income.data.
    assert w[0] == pytest.approx(991.95)


# Positive rates measured on the embedded subsample (see datasets/data/README.md).
SAMPLE_RATES = {
    "train": {"income": 0.06165, "never_married": 0.43375, "college": 0.195},
    "test": {"income": 0.0651, "never_married": 0.4285, "college": 0.1977},
    "all": {"income": 0.0628, "never_married": 0.432, "college": 0.19590},
}
SAMPLE_ROWS = {"train": 20_000, "test": 10_000, "all": 30_000}
TASK_NAMES = {
    "income_marital": ["income", "never_married"],
    "education_marital": ["college", "never_married"],
}


@pytest.mark.parametrize("tasks", ["income_marital", "education_marital"])
@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_positive_rates_embedded(subset, tasks):
    X, Y = load_census_income(subset=subset, tasks=tasks, return_X_y=True)
    assert X.shape == (SAMPLE_ROWS[subset], 39)
    assert list(Y.columns) == TASK_NAMES[tasks]
    rates = Y.mean()
    for name in TASK_NAMES[tasks]:
        assert rates[name] == pytest.approx(SAMPLE_RATES[subset][name], abs=1e-3)
    # Sane bounds: close to the rates of the full UCI files (6.2%, 43.3%, 19.6%).
    bounds = {
        "income": (0.05, 0.075),
        "never_married": (0.41, 0.46),
        "college": (0.18, 0.21),
    }
    for name in TASK_NAMES[tasks]:
        low, high = bounds[name]
        assert low < rates[name] < high, name


def test_education_marital(train, train_education):
    bunch = train_education
    assert bunch.target_names == ["college", "never_married"]
    assert bunch.data.shape == (20_000, 39)
    assert "education" not in bunch.feature_names
    assert "marital_stat" not in bunch.feature_names
    assert "income_50k" in bunch.feature_names
    income = bunch.data["income_50k"]
    assert isinstance(income.dtype, pd.CategoricalDtype)
    assert list(income.cat.categories) == ["- 50000.", "50000+."]
    # income_50k as a feature agrees with the income target of group 1.
    np.testing.assert_array_equal(
        (income == "50000+.").to_numpy(dtype=np.int64), train.target["income"]
    )
    np.testing.assert_array_equal(
        bunch.target["never_married"], train.target["never_married"]
    )
    # college is 1 exactly for the six degree levels.
    education = train.data["education"]
    degrees = {
        "Associates degree-academic program",
        "Associates degree-occup /vocational",
        "Bachelors degree(BA AB BS)",
        "Masters degree(MA MS MEng MEd MSW MBA)",
        "Prof school degree (MD DDS DVM LLB JD)",
        "Doctorate degree(PhD EdD)",
    }
    np.testing.assert_array_equal(
        education.isin(degrees).to_numpy(dtype=np.int64), bunch.target["college"]
    )
    assert bunch.target["college"][education == "Some college but no degree"].sum() == 0
    assert bunch.target["college"][education == "Children"].sum() == 0


def test_return_X_y(train):
    X, Y = load_census_income(return_X_y=True)
    pd.testing.assert_frame_equal(X, train.data)
    pd.testing.assert_frame_equal(Y, train.target)


def test_as_frame_false(train):
    bunch = load_census_income(as_frame=False)
    X, Y = bunch.data, bunch.target
    assert isinstance(X, np.ndarray) and X.dtype == np.float64
    assert X.shape == (20_000, 39)
    assert isinstance(Y, np.ndarray) and Y.dtype == np.int64
    assert Y.shape == (20_000, 2)
    assert bunch.frame is None
    assert bunch.feature_names == train.feature_names
    np.testing.assert_array_equal(Y, train.target.to_numpy())
    np.testing.assert_array_equal(bunch.sample_weight, train.sample_weight)

    cat_idx = bunch.categorical_features
    assert cat_idx.dtype.kind == "i"
    assert [bunch.feature_names[i] for i in cat_idx] == train.categorical_features
    for i, name in enumerate(bunch.feature_names):
        column = X[:, i]
        if i in cat_idx:
            expected = train.data[name].cat.codes.to_numpy(dtype=np.float64)
            expected[expected < 0] = np.nan
            np.testing.assert_array_equal(column, expected)
            observed = column[~np.isnan(column)]
            assert np.all(observed == np.round(observed))
            assert observed.min() >= 0
            assert observed.max() < len(bunch.categories[name])
        else:
            np.testing.assert_array_equal(column, train.data[name].to_numpy())
    # Missing categorical values are NaN.
    mig = bunch.feature_names.index("mig_chg_msa")
    assert np.isnan(X[:, mig]).sum() == train.data["mig_chg_msa"].isna().sum() > 0

    X2, Y2 = load_census_income(as_frame=False, return_X_y=True)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(Y2, Y)


def test_subset_all(train):
    test = load_census_income(subset="test")
    both = load_census_income(subset="all")
    assert both.data.shape == (30_000, 39)
    assert both.target.shape == (30_000, 2)
    assert both.sample_weight.shape == (30_000,)
    assert both.data.index.equals(pd.RangeIndex(30_000))
    expected = pd.concat([train.data, test.data], ignore_index=True)
    pd.testing.assert_frame_equal(both.data, expected)
    # Fixed categories: the codes mean the same thing in every subset.
    for name in train.categorical_features:
        assert list(test.data[name].cat.categories) == train.categories[name]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subset": "validation"}, "subset must be one of"),
        ({"subset": None}, "subset must be one of"),
        ({"subset": ["train"]}, "subset must be one of"),
        ({"tasks": "income"}, "tasks must be one of"),
        ({"tasks": ("income", "marital")}, "tasks must be one of"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match) as excinfo:
        load_census_income(**kwargs)
    message = str(excinfo.value)
    if "subset" in kwargs:
        for option in ["train", "test", "all"]:
            assert option in message
    else:
        for option in ["income_marital", "education_marital"]:
            assert option in message


def test_data_home_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"census-income\.data\.gz") as excinfo:
        load_census_income(data_home=tmp_path)
    assert "'census-income.data'" in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match=r"census-income\.test\.gz"):
        load_census_income(data_home=str(tmp_path), subset="test")
    with pytest.raises(FileNotFoundError):
        load_census_income(data_home=tmp_path / "does-not-exist")


def test_data_home_uncompressed(tmp_path, train):
    # The embedded files keep the UCI format: uncompressed, they read as full files.
    sample = resources.files("sklearn_mtl.datasets").joinpath(
        "data", "census_income_train_sample.csv.gz"
    )
    with sample.open("rb") as f:
        (tmp_path / "census-income.data").write_bytes(gzip.decompress(f.read()))
    bunch = load_census_income(data_home=tmp_path)
    pd.testing.assert_frame_equal(bunch.data, train.data)
    pd.testing.assert_frame_equal(bunch.target, train.target)
    np.testing.assert_array_equal(bunch.sample_weight, train.sample_weight)


def test_full_uci_files():
    if not FULL_DATA_DIR.is_dir():
        pytest.skip(f"full UCI Census-Income (KDD) files not found in {FULL_DATA_DIR}")
    bunch = load_census_income(data_home=FULL_DATA_DIR)
    assert bunch.data.shape == (199_523, 39)
    assert bunch.target.shape == (199_523, 2)
    assert bunch.sample_weight.shape == (199_523,)
    assert bunch.target["income"].sum() == 12_382
    assert bunch.target["income"].mean() == pytest.approx(0.0621, abs=5e-5)
    assert bunch.target["never_married"].mean() == pytest.approx(0.4335, abs=5e-5)
    assert (bunch.target["income"] & bunch.target["never_married"]).sum() == 1_117
    # Every value of the full file falls in the fixed categories.
    for name in bunch.categorical_features:
        assert list(bunch.data[name].cat.categories) == bunch.categories[name]
    assert bunch.data["year"].value_counts().to_dict() == {"94": 99_827, "95": 99_696}
    X_test, _ = load_census_income(
        data_home=FULL_DATA_DIR, subset="test", return_X_y=True
    )
    assert X_test.shape == (99_762, 39)
