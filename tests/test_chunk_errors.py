"""ChunkedData's errors name the file, the chunk or the parameter at fault:
at construction when the check needs no reading, else when the chunk is read."""

import os
import re

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import ChunkedData, SharedBottomClassifier

from ._settings import FAST_PARAMS

pytest.importorskip("pyarrow")

PARAMS = {**FAST_PARAMS, "max_epochs": 2}
TARGETS = ["click", "like"]


def chunk(seed=0, n=100):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "city": rng.choice(["a", "b"], n)})
    Y = pd.DataFrame({"click": rng.randint(0, 2, n), "like": rng.randint(0, 2, n)})
    return X, Y


def write(path, seed=0, n=100, **changes):
    X, Y = chunk(seed, n)
    frame = pd.concat([X, Y], axis=1).assign(w=1.0).assign(**changes)
    frame.to_parquet(path)
    return path


def fit(source):
    return SharedBottomClassifier(categorical_features=["city"], **PARAMS).fit(source)


def named(path):
    return re.escape(str(path))


@pytest.mark.parametrize("content", [b"not parquet at all", b"PAR1" + b"\0" * 64 + b"PAR1"])
def test_a_corrupt_file_is_named(tmp_path, content):
    write(tmp_path / "a.parquet")
    bad = tmp_path / "b.parquet"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=f"could not read the Parquet file {named(bad)}"):
        fit(ChunkedData(tmp_path, target_columns=TARGETS))


def test_a_truncated_file_is_named(tmp_path):
    good = write(tmp_path / "a.parquet")
    bad = tmp_path / "b.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"Parquet file {named(bad)}"):
        fit(ChunkedData(tmp_path, target_columns=TARGETS))


@pytest.mark.parametrize(
    "params, role",
    [
        ({"target_columns": ["click", "buy"]}, "target_columns"),
        ({"target_columns": TARGETS, "weight_column": "weight"}, "weight_column"),
    ],
)
def test_a_missing_target_or_weight_column_is_named_with_its_file(tmp_path, params, role):
    path = write(tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=f"{named(path)} has no column .* \\(from {role}\\)"):
        fit(ChunkedData(tmp_path, **params))


def test_target_columns_as_a_string_is_refused_at_construction(tmp_path):
    write(tmp_path / "a.parquet")
    with pytest.raises(TypeError, match=r"target_columns must be a list.*\['click'\]"):
        ChunkedData(tmp_path, target_columns="click")


def test_parquet_parameters_with_a_callable_are_refused_at_construction():
    X, Y = chunk()
    with pytest.raises(ValueError, match="target_columns and weight_column apply to Parquet"):
        ChunkedData(lambda: [(X, Y)], target_columns=TARGETS)


@pytest.mark.parametrize("rows, error", [(0, ValueError), (-5, ValueError), (True, TypeError),
                                         (2.5, TypeError)])
def test_chunk_rows_must_be_a_positive_int_at_construction(tmp_path, rows, error):
    write(tmp_path / "a.parquet")
    with pytest.raises(error, match="chunk_rows must"):
        ChunkedData(tmp_path, target_columns=TARGETS, chunk_rows=rows)


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"shuffle_buffer": 0}, ValueError, "shuffle_buffer must be at least 1"),
        ({"shuffle_buffer": 2.0}, TypeError, "shuffle_buffer must be an int"),
        ({"cache_dir": 3}, TypeError, "cache_dir must be a path or None"),
    ],
)
def test_cache_and_shuffle_parameters_are_checked_at_construction(params, error, message):
    X, Y = chunk()
    with pytest.raises(error, match=message):
        ChunkedData(lambda: [(X, Y)], **params)


def test_a_file_that_does_not_exist_is_named_at_construction(tmp_path):
    good = write(tmp_path / "a.parquet")
    missing = tmp_path / "gone.parquet"
    for source in (missing, [good, missing], str(missing)):
        with pytest.raises(ValueError, match=f"{named(missing)} does not exist"):
            ChunkedData(source, target_columns=TARGETS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no \\*.parquet file in the directory"):
        ChunkedData(tmp_path / "empty", target_columns=TARGETS)


def test_an_empty_file_is_named(tmp_path):
    write(tmp_path / "a.parquet")
    empty = write(tmp_path / "b.parquet", n=0)
    with pytest.raises(ValueError, match=f"{named(empty)} holds no rows"):
        fit(ChunkedData(tmp_path, target_columns=TARGETS))


def test_an_empty_chunk_is_named_by_its_index():
    X, Y = chunk()
    source = ChunkedData(lambda: [(X, Y), (X[:0], Y[:0])])
    with pytest.raises(ValueError, match="chunk 1 has no rows"):
        fit(source)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"x": None}, r"lacks the column\(s\) \['x'\]"),
        ({"x": "text"}, r"changes the type of 'x' \(double -> "),
        ({"extra": 1.0}, r"has the new column\(s\) \['extra'\]"),
    ],
)
def test_a_schema_change_in_a_later_file_names_the_file(tmp_path, changes, problem):
    write(tmp_path / "a.parquet")
    later = tmp_path / "b.parquet"
    if changes.get("x", 0) is None:
        X, Y = chunk(1)
        pd.concat([X.drop(columns="x"), Y], axis=1).assign(w=1.0).to_parquet(later)
    else:
        write(later, seed=1, **changes)
    with pytest.raises(ValueError, match=f"{named(later)} {problem}"):
        fit(ChunkedData(tmp_path, target_columns=TARGETS))


def test_a_chunk_whose_weights_are_all_zero_is_named(tmp_path):
    X, Y = chunk()
    with pytest.raises(ValueError, match="every sample weight of chunk 1 is zero"):
        fit(ChunkedData(lambda: [(X, Y, np.ones(100)), (X, Y, np.zeros(100))]))
    write(tmp_path / "a.parquet")
    zero = write(tmp_path / "b.parquet", w=0.0)
    with pytest.raises(ValueError, match=f"chunk 0 of the Parquet file {named(zero)} is zero"):
        fit(ChunkedData(tmp_path, target_columns=TARGETS, weight_column="w"))


def test_an_exhausted_generator_handed_back_every_epoch_is_an_error():
    def chunks():
        for seed in range(3):
            yield chunk(seed)

    once = chunks()
    with pytest.raises(ValueError, match="gave 0 rows, the first gave 300.*fresh iterable"):
        fit(ChunkedData(lambda: once))
    assert fit(ChunkedData(chunks)).n_iter_ == PARAMS["max_epochs"]  # a generator function


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_directory_refuses_links_to_files_outside_it(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "a.parquet")
    outside = write(tmp_path / "outside.parquet", seed=1)
    (folder / "b.parquet").symlink_to(outside)
    link = named(folder / "b.parquet")
    with pytest.raises(ValueError, match=f"{link} is a symbolic link.*outside"):
        ChunkedData(folder, target_columns=TARGETS)
    # A link within the directory is read like any file; a list may name any file.
    (folder / "b.parquet").unlink()
    (folder / "b.parquet").symlink_to(folder / "a.parquet")
    linked = ChunkedData(folder, target_columns=TARGETS, weight_column="w")
    assert fit(linked).n_features_in_ == 2
    assert fit(ChunkedData([folder / "a.parquet", outside], target_columns=TARGETS)).n_iter_
