"""A ColumnTransformer step's name never changes how its columns are encoded."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklearn_mtl import SharedBottomClassifier
from sklearn_mtl._data._columns import check_category_codes
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS

CATEGORIES = make_column_selector(dtype_include="category")
NUMBERS = make_column_selector(dtype_exclude="category")
#: Names with and without the words the detection once looked for.
STEP_NAMES = ["cat", "ids", "x", "numbers"]


@pytest.fixture(scope="module")
def census():
    train = load_census_income(subset="train")
    return train.data[:1500], train.target[:1500]


def _pipe(step_name, encoder):
    prep = ColumnTransformer([(step_name, encoder, CATEGORIES), ("scaled", StandardScaler(), NUMBERS)])
    return Pipeline([("prep", prep.set_output(transform="pandas")), ("mtl", SharedBottomClassifier(**FAST_PARAMS))])


def _fit(pipe, X, Y):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pipe.fit(X, Y)
    messages = [str(w.message) for w in record if "category codes" in str(w.message)]
    return pipe, messages


def _unprefixed(names):
    return [str(name).partition("__")[2] for name in names]


@pytest.mark.parametrize(
    "encoder",
    [
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
        CategoricalPassthrough(),
    ],
    ids=["ordinal", "passthrough"],
)
def test_any_step_name_gives_the_encoding_and_warning_of_cat(census, encoder):
    X, Y = census
    reference, reference_messages = _fit(_pipe("cat", encoder), X, Y)
    for name in STEP_NAMES[1:]:
        pipe, messages = _fit(_pipe(name, encoder), X, Y)
        model = pipe[-1]
        np.testing.assert_array_equal(model.is_categorical_, reference[-1].is_categorical_)
        assert len(messages) == len(reference_messages)
        for message, reference_message in zip(messages, reference_messages):
            same = message.replace(f"'{name}__", "'cat__").replace(f"^({name})__", "^(cat)__")
            assert same == reference_message
        for p, p_reference in zip(pipe.predict_proba(X), reference.predict_proba(X)):
            np.testing.assert_array_equal(p, p_reference)
    if isinstance(encoder, CategoricalPassthrough):
        # Categories travel as the category dtype: embedded, nothing to warn about.
        assert reference[-1].is_categorical_.sum() == (X.dtypes == "category").sum()
        assert reference_messages == []
    else:
        # Codes as numbers: every coded column named, whatever the step is called.
        (message,) = reference_messages
        coded = [c for c in X.columns[X.dtypes == "category"] if X[c].nunique() > 2]
        assert all(f"'cat__{c}'" in message for c in coded)
        assert "scaled__" not in message


def test_a_step_of_whole_number_quantities_is_not_codes_unless_all_its_columns_are():
    rng = np.random.RandomState(0)
    n = 300
    X = pd.DataFrame(
        {
            "children": rng.randint(0, 5, n).astype(float),  # 0..4, every value present
            "income": rng.randint(0, 100_000, n).astype(float),  # whole numbers with gaps
            "city": rng.choice(["lima", "oslo", "rome"], n),
        }
    )
    Y = pd.DataFrame({"a": rng.randint(0, 2, n), "b": rng.randint(0, 2, n)})
    encoder = OrdinalEncoder()

    def fit(transformers):
        prep = ColumnTransformer(transformers).set_output(transform="pandas")
        return _fit(Pipeline([("prep", prep), ("mtl", SharedBottomClassifier(**FAST_PARAMS))]), X, Y)[1]

    # Passed through with another number: a step of quantities, not codes.
    (message,) = fit([("keep", "passthrough", ["children", "income"]), ("ids", encoder, ["city"])])
    assert "'ids__city'" in message and "keep__" not in message
    # Alone in its step, a count cannot be told from codes: it is named.
    (message,) = fit([("keep", "passthrough", ["children"]), ("rest", "passthrough", ["income"])])
    assert "'keep__children'" in message


#: Step names as a ColumnTransformer allows them: no "__" inside.
_STEP_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: "__" not in s and not s.endswith("_"))


@settings(max_examples=50, deadline=None)
@given(
    names=st.lists(_STEP_NAMES, min_size=2, max_size=2, unique=True),
    coded_first=st.booleans(),
    n_codes=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_which_columns_are_called_codes_does_not_depend_on_step_names(names, coded_first, n_codes, seed):
    rng = np.random.RandomState(seed)
    codes = {f"c{j}": rng.permutation(np.arange(40) % (j + 3)).astype(float) for j in range(n_codes)}
    numbers = {"age": rng.randint(0, 40, 40).astype(float), "income": rng.normal(size=40)}
    blocks = [codes, numbers] if coded_first else [numbers, codes]

    def suspects(step_names):
        X = pd.DataFrame(
            {f"{step}__{column}": values for step, block in zip(step_names, blocks) for column, values in block.items()}
        )
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            check_category_codes(X, np.zeros(X.shape[1], dtype=bool), np.asarray(X.columns))
        (message,) = [str(w.message) for w in record]
        return sorted(re.findall(r"'[^']*__(c\d)'", message.split("]")[0]))

    expected = sorted(codes)
    assert suspects(names) == expected
    assert suspects(["cat", "num"]) == expected
