"""Categories through a ColumnTransformer: the recipe, column selection, codes as numbers."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector, make_column_transformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from sklearn_mtl import MMoEClassifier, SharedBottomClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS

CATEGORIES = make_column_selector(dtype_include="category")
NUMBERS = make_column_selector(dtype_exclude="category")


@pytest.fixture(scope="module")
def census():
    train = load_census_income(subset="train")
    test = load_census_income(subset="test")
    return train.data[:2000], train.target[:2000], test.data[:2000], train.categorical_features


def _ordinal(missing=-1):
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=missing)


def _prep(categorical, numeric=StandardScaler(), **kwargs):
    ct = ColumnTransformer([("cat", categorical, CATEGORIES), ("num", numeric, NUMBERS)], **kwargs)
    return ct.set_output(transform="pandas")


def test_categorical_passthrough_recipe_keeps_categories_end_to_end(census):
    X, Y, X_test, categorical = census
    X_test = X_test.copy()
    # A category never seen in fit, and one column all missing at predict.
    X_test["education"] = X_test["education"].cat.add_categories(["Unheard of"])
    X_test.loc[X_test.index[:5], "education"] = "Unheard of"
    X_test["class_worker"] = np.nan
    pipe = Pipeline([("prep", _prep(CategoricalPassthrough())), ("mtl", MMoEClassifier(**FAST_PARAMS))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.fit(X, Y)
        proba = pipe.predict_proba(X_test)
    model = pipe[-1]
    assert list(model.feature_names_in_[model.is_categorical_]) == [f"cat__{c}" for c in categorical]
    assert model.is_categorical_.sum() == len(categorical)
    assert all(np.isfinite(p).all() and p.shape == (len(X_test), 2) for p in proba)


def test_column_selector_as_categorical_features(census):
    X, Y, _, categorical = census
    prep = _prep(_ordinal())
    model = MMoEClassifier(categorical_features=make_column_selector(pattern="^cat__"), **FAST_PARAMS)
    Pipeline([("prep", prep), ("mtl", model)]).fit(X, Y)
    assert model.is_categorical_.sum() == len(categorical)
    by_dtype = MMoEClassifier(categorical_features=CATEGORIES, **FAST_PARAMS).fit(X, Y)
    np.testing.assert_array_equal(by_dtype.is_categorical_, X.dtypes == "category")
    with pytest.raises(ValueError, match="needs a pandas DataFrame.*set_output"):
        MMoEClassifier(categorical_features=CATEGORIES, **FAST_PARAMS).fit(X.to_numpy(), Y)
    with pytest.raises(TypeError, match="must return a list of column names"):
        MMoEClassifier(categorical_features=lambda X: "city", **FAST_PARAMS).fit(X, Y)


def test_names_match_columns_prefixed_by_a_column_transformer_only_when_unambiguous(census):
    X, Y, _, categorical = census
    prep = _prep(_ordinal())
    pipe = Pipeline([("prep", prep), ("mtl", MMoEClassifier(categorical_features=categorical, **FAST_PARAMS))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.fit(X, Y)
    assert pipe[-1].is_categorical_.sum() == len(categorical)
    Xt = pd.DataFrame({"a__city": [1.0, 2.0], "b__city": [3.0, 4.0], "city_size": [0.5, 0.1]})
    with pytest.raises(ValueError, match=r"'city', which is ambiguous.*\['a__city', 'b__city'\]"):
        MMoEClassifier(categorical_features=["city"], **FAST_PARAMS).fit(Xt, [0, 1])
    with pytest.raises(ValueError, match=r"not in X: \['size'\]"):
        MMoEClassifier(categorical_features=["size"], **FAST_PARAMS).fit(Xt, [0, 1])


def test_category_codes_as_numbers_warn_with_the_columns_and_the_fix(census):
    X, Y, _, categorical = census
    prep = _prep(_ordinal())
    pipe = Pipeline([("prep", prep), ("mtl", SharedBottomClassifier(**FAST_PARAMS))])
    with pytest.warns(UserWarning, match="look like category codes") as record:
        pipe.fit(X, Y)
    message = str(record[0].message)
    assert "'cat__education'" in message and "'num__age'" not in message
    assert "categorical_features=make_column_selector(pattern='^(cat)__')" in message
    assert "CategoricalPassthrough" in message
    assert not pipe[-1].is_categorical_.any()


def test_encoder_named_by_make_column_transformer_warns_too(census):
    X, Y, _, _ = census
    prep = make_column_transformer(
        (_ordinal(), CATEGORIES),
        (StandardScaler(), NUMBERS),
    ).set_output(transform="pandas")
    with pytest.warns(UserWarning, match="'ordinalencoder__education'"):
        Pipeline([("prep", prep), ("mtl", SharedBottomClassifier(**FAST_PARAMS))]).fit(X, Y)


def test_no_false_warning_on_census_numerics_and_one_hot(census):
    X, Y, _, _ = census
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    pipelines = [
        MMoEClassifier(**FAST_PARAMS),  # the raw frame: whole-number float columns
        Pipeline([("prep", _prep(CategoricalPassthrough(), "passthrough")), ("mtl", MMoEClassifier(**FAST_PARAMS))]),
        Pipeline([("prep", _prep(one_hot)), ("mtl", MMoEClassifier(**FAST_PARAMS))]),
        Pipeline(
            [
                ("prep", make_column_transformer((one_hot, CATEGORIES), ("passthrough", NUMBERS))),
                ("mtl", MMoEClassifier(**FAST_PARAMS)),
            ]
        ),
    ]
    for pipe in pipelines:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pipe.fit(X, Y)


def test_codes_with_nan_for_missing_get_declare_advice_not_impute(census):
    X, Y, _, _ = census
    pipe = Pipeline([("prep", _prep(_ordinal(missing=np.nan))), ("mtl", MMoEClassifier(**FAST_PARAMS))])
    with pytest.raises(ValueError, match=r"'cat__country_self'.*category codes.*Do not impute.*declare them") as info:
        pipe.fit(X, Y)
    assert "SimpleImputer" not in str(info.value)


def test_categorical_passthrough_unknowns_types_and_output():
    X = pd.DataFrame({"code": [1, 2, 2, np.nan], "city": ["Paris", "Lima", None, "Paris"]}, index=[5, 6, 7, 8])
    passthrough = CategoricalPassthrough().set_output(transform="pandas").fit(X)
    assert [c.tolist() for c in passthrough.categories_] == [[1.0, 2.0], ["Lima", "Paris"]]
    out = passthrough.transform(pd.DataFrame({"code": [2, 3], "city": ["Oslo", "Lima"]}, index=[1, 0]))
    assert list(out.index) == [1, 0]
    assert out["code"].tolist()[0] == 2 and pd.isna(out["code"].tolist()[1])
    assert list(passthrough.get_feature_names_out()) == ["code", "city"]
    with pytest.warns(UserWarning, match=r"'code' holds values of another type.*'1'") as record:
        passthrough.transform(pd.DataFrame({"code": ["1", "2"], "city": ["Lima", "Rome"]}))
    assert len(record) == 1  # a new city is no type mismatch
    given = CategoricalPassthrough(categories=[[1, 2, 3], ["Lima", "Oslo"]]).set_output(transform="pandas")
    assert given.fit_transform(X)["city"].cat.categories.tolist() == ["Lima", "Oslo"]
    with pytest.raises(ValueError, match="categories has 1 entries but X has 2 columns"):
        CategoricalPassthrough(categories=[[1]]).set_output(transform="pandas").fit(X)
    with pytest.warns(UserWarning, match="output is not configured as pandas"):
        CategoricalPassthrough().fit(X)


# scikit-learn's generic transformer checks compare outputs as numbers; these
# outputs are pandas categories.
_NUMERIC_OUTPUT_CHECKS = [
    "check_estimators_pickle",
    "check_fit_idempotent",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_pipeline_consistency",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]


# Some checks build their own copy without the pandas output config.
@pytest.mark.filterwarnings("ignore:CategoricalPassthrough returns pandas:UserWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_categorical_passthrough_passes_the_other_scikit_learn_checks():
    estimator = CategoricalPassthrough().set_output(transform="pandas")
    reason = "compares transform outputs as numbers; the output is pandas categories"
    check_estimator(estimator, expected_failed_checks=dict.fromkeys(_NUMERIC_OUTPUT_CHECKS, reason))
