"""Data-parallel training over Parquet files that each process reads a share of."""

import json
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.metrics import roc_auc_score

import sklearn_mtl._data._chunks as chunks_module
from sklearn_mtl import ChunkedData, MMoEClassifier
from sklearn_mtl._data import BatchIterator, ChunkTensors, TensorData
from sklearn_mtl._data._cache import ChunkCache
from sklearn_mtl._data._parquet import deal_units
from sklearn_mtl._data._sources import _check_same_layout, _TaskLabels
from sklearn_mtl._training._distributed import DataParallel

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed without the gloo backend",
)

#: Rows of each Parquet part: unequal, several row groups each.
PART_ROWS = [700, 500, 300, 900, 400]
ROW_GROUP = 200
TARGETS = ["click", "buy"]
PARAMS = dict(
    max_epochs=8,
    batch_size=128,
    random_state=0,
    early_stopping=True,
    n_iter_no_change=5,
    categorical_features=["cat"],
)
#: Longest a group of workers may take before the test gives up on it.
DEADLINE = 300


def _frame(n, seed):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {
            "cat": rng.choice([f"c{k}" for k in range(12)], n),
            "x1": rng.normal(size=n),
            "x2": rng.lognormal(size=n),
        }
    )
    score = X["x1"] + (X["cat"].str[1:].astype(int) % 3 == 0) - 0.5
    X["click"] = (score + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    X["buy"] = (X["click"] & (X["x2"] > 1)).astype(np.int64)
    return X


def _write_parts(folder):
    folder.mkdir()
    for k, n in enumerate(PART_ROWS):
        table = pa.Table.from_pandas(_frame(n, seed=k), preserve_index=False)
        pq.write_table(table, folder / f"part-{k}.parquet", row_group_size=ROW_GROUP)


def _chunked(folder, cache_dir=None):
    return ChunkedData(folder, target_columns=TARGETS, chunk_rows=150, cache_dir=cache_dir)


def _encoding(model):
    encoding = model._feature_encoder.encoding()
    return {
        "categories": {k: v.index.tolist() for k, v in encoding.vocabularies.items()},
        "codes": {k: v.tolist() for k, v in encoding.vocabularies.items()},
        "mean": encoding.numeric_mean.tolist(),
        "scale": encoding.numeric_scale.tolist(),
        "classes": [c.tolist() for c in model.classes_],
    }


def _auc(model, test):
    proba = model.predict_proba(test.drop(columns=TARGETS))
    return [roc_auc_score(test[t], p[:, 1]) for t, p in zip(TARGETS, proba)]


def _steps(model):
    return [sum("train_loss" in b for b in row["batches"]) for row in model.history_]


def _history(model):
    return [{k: v for k, v in row.items() if k not in ("batches", "dur")} for row in model.history_]


def _worker(rank, world_size, rendezvous, folders, out):
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=60),  # a hang fails the test instead of blocking it
    )
    torch.set_num_threads(1)
    report = {}
    read = []

    def spy(paths, target_columns, weight_column, chunk_rows, units=None):
        rows = 0
        for chunk in real(paths, target_columns, weight_column, chunk_rows, units):
            rows += len(chunk[0])
            yield chunk
        read.append({"units": units, "rows": rows})

    real, chunks_module.read_parquet_chunks = chunks_module.read_parquet_chunks, spy
    cache_dir = Path(folders["cache"])
    model = MMoEClassifier(**PARAMS).fit(_chunked(folders["parts"], cache_dir))
    report["read"] = read
    report["encoding"] = _encoding(model)
    report["history"] = _history(model)
    report["steps"] = _steps(model)
    report["state"] = {k: v.tolist() for k, v in model.net_.module_.state_dict().items()}
    report["auc"] = _auc(model, pd.read_parquet(folders["test"]))

    balanced = MMoEClassifier(**{**PARAMS, "max_epochs": 1}, pos_weight="balanced")
    balanced.fit(_chunked(folders["parts"]))
    report["pos_weight"] = balanced.net_.criterion_.pos_weight.tolist()
    chunks_module.read_parquet_chunks = real

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        few = MMoEClassifier(**{**PARAMS, "max_epochs": 2}).fit(_chunked(folders["one_group"]))
    report["few_warnings"] = [str(w.message) for w in caught if w.category is UserWarning]
    report["few_history"] = _history(few)
    report["few_state"] = {k: v.tolist() for k, v in few.net_.module_.state_dict().items()}

    for case, categorical in (("schema", ["cat"]), ("layout", ["cat", "tags"])):
        try:
            model = MMoEClassifier(**{**PARAMS, "categorical_features": categorical})
            model.fit(_chunked(folders[case]))
        except ValueError as error:
            report[case] = str(error)
    dist.destroy_process_group()
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))


def _spawn(world_size, folders, out):
    context = mp.spawn(
        _worker,
        args=(world_size, out / "rendezvous", folders, out),
        nprocs=world_size,
        join=False,
    )
    deadline = time.monotonic() + DEADLINE
    try:
        while not context.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail(f"the data-parallel workers did not finish in {DEADLINE} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    _write_parts(root / "parts")
    _frame(1000, seed=99).to_parquet(root / "test.parquet")
    # One row group in all: fewer than the processes.
    (root / "one_group").mkdir()
    pq.write_table(pa.Table.from_pandas(_frame(600, seed=5)), root / "one_group" / "a.parquet")
    # A file whose column types differ from the others'.
    (root / "schema").mkdir()
    for k in range(3):
        frame = _frame(300, seed=k)
        if k == 2:
            frame["x1"] = frame["x1"].astype(str)
        pq.write_table(pa.Table.from_pandas(frame), root / "schema" / f"p{k}.parquet")
    # The same schema, but a list column missing in every row of the second
    # file, which is all of the second process's share.
    (root / "layout").mkdir()
    schema = None
    for k in range(2):
        frame = _frame(300, seed=k)
        frame["tags"] = [["a", "b"][: 1 + i % 2] if k == 0 else None for i in range(300)]
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        schema = table.schema
        pq.write_table(table, root / "layout" / f"p{k}.parquet")
    return {
        "parts": str(root / "parts"),
        "test": str(root / "test.parquet"),
        "cache": str(root / "cache"),
        **{k: str(root / k) for k in ("one_group", "schema", "layout")},
    }


@pytest.fixture(scope="module")
def reports(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    _spawn(2, folders, out)
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]


@pytest.fixture(scope="module")
def single(folders):
    model = MMoEClassifier(**PARAMS).fit(_chunked(folders["parts"]))
    balanced = MMoEClassifier(**{**PARAMS, "max_epochs": 1}, pos_weight="balanced")
    balanced.fit(_chunked(folders["parts"]))
    return {
        "encoding": _encoding(model),
        "auc": _auc(model, pd.read_parquet(folders["test"])),
        "pos_weight": balanced.net_.criterion_.pos_weight.tolist(),
    }


def test_each_process_reads_only_its_row_groups(reports, folders):
    n_groups = [-(-n // ROW_GROUP) for n in PART_ROWS]
    shares = [[], []]
    for rank, report in enumerate(reports):
        # Both passes (statistics, then the cache) read the same row groups only.
        first, second = report["read"][:2]
        assert first == second
        shares[rank] = [tuple(unit) for unit in first["units"]]
        assert 0 < first["rows"] < sum(PART_ROWS)
    every_unit = [(i, g) for i, n in enumerate(n_groups) for g in range(n)]
    assert sorted(shares[0] + shares[1]) == every_unit
    assert reports[0]["read"][0]["rows"] + reports[1]["read"][0]["rows"] == sum(PART_ROWS)
    # Balanced by rows: 2,800 rows in groups of at most 200 split within 200.
    assert abs(reports[0]["read"][0]["rows"] - reports[1]["read"][0]["rows"]) <= ROW_GROUP
    # One cache per share in the shared cache_dir, each of its process's rows.
    caches = sorted(sum(ChunkCache(p).n_rows) for p in Path(folders["cache"]).glob("chunks-*"))
    assert caches == sorted(r["read"][0]["rows"] for r in reports)


def test_every_process_sets_the_single_process_encoding_and_tasks(reports, single):
    first, second = reports
    assert first["encoding"] == second["encoding"]
    expected = single["encoding"]
    assert first["encoding"]["categories"] == expected["categories"]
    assert first["encoding"]["codes"] == expected["codes"]
    assert first["encoding"]["classes"] == expected["classes"]
    np.testing.assert_allclose(first["encoding"]["mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(first["encoding"]["scale"], expected["scale"], rtol=1e-12)


def test_processes_take_equal_steps_and_agree_on_history_and_weights(reports, single):
    first, second = reports
    assert first["steps"] == second["steps"]
    # Full batches of 64 rows (128 over 2 processes) of the smaller share.
    rows = min(r["read"][0]["rows"] for r in reports)
    assert 0 < first["steps"][0] <= rows // 64
    assert first["history"] == second["history"]
    assert all("valid_loss" in row and "valid_roc_auc_click" in row for row in first["history"])
    assert first["state"] == second["state"]
    # Fewer steps per epoch than one process takes (full batches of the smaller
    # share), so a little behind it.
    for auc, expected in zip(first["auc"], single["auc"]):
        assert auc > 0.75
        assert abs(auc - expected) < 0.1


def test_balanced_pos_weight_counts_every_process_labels(reports, single):
    first, second = reports
    assert first["pos_weight"] == second["pos_weight"]
    # The training rows differ (each process holds out its own validation rows).
    np.testing.assert_allclose(first["pos_weight"], single["pos_weight"], rtol=0.1)


def test_fewer_row_groups_than_processes_warn_and_train_on_every_chunk(reports):
    first, second = reports
    for report in reports:
        (message,) = [m for m in report["few_warnings"] if "row group" in m]
        assert "fewer than the 2 processes" in message
        assert "smaller row groups" in message
    assert first["few_history"] == second["few_history"]
    assert first["few_state"] == second["few_state"]


def test_a_file_of_another_schema_is_the_same_error_in_every_process(reports):
    first, second = reports
    assert first["schema"] == second["schema"]
    assert "p2.parquet" in first["schema"] and "changes the type of 'x1'" in first["schema"]


def test_shares_that_set_up_other_columns_are_the_same_error_everywhere(reports):
    first, second = reports
    assert first["layout"] == second["layout"]
    assert "do not set up the same columns" in first["layout"]
    assert "multi_valued: ['tags'] in process 0, [] in process 1" in first["layout"]


def test_units_are_dealt_by_rows_alike_in_every_process():
    units = [(0, 0, 10), (0, 1, 3), (1, 0, 7), (2, 0, 7), (2, 1, 1)]
    shares = deal_units(units, 2)
    # 10 -> 0, 7 -> 1, 7 -> 1, 3 -> 0, 1 -> 0; each share then in file order.
    assert shares == [[(0, 0), (0, 1), (2, 1)], [(1, 0), (2, 0)]]
    rows = {(i, g): n for i, g, n in units}
    assert [sum(rows[u] for u in share) for share in shares] == [14, 14]
    assert deal_units(units, 2) == shares
    # Every process gets a unit while some are left.
    assert all(deal_units(units, 5))


def test_task_labels_counted_apart_and_merged_count_as_one():
    rng = np.random.RandomState(0)
    click = rng.randint(0, 2, 60).astype(float)
    click[::7] = np.nan
    price = rng.choice([1.5, 2.0, 9.0], 60)
    weight = rng.rand(60)
    whole, first, second = _TaskLabels(), _TaskLabels(), _TaskLabels()
    whole.add([click, price], weight)
    first.add([click[:25], price[:25]], weight[:25])
    second.add([click[25:], price[25:]], weight[25:])
    merged = first.merge(second).merge(_TaskLabels())
    for got, expected in zip(merged.counts, whole.counts):
        pd.testing.assert_series_equal(got.sort_index(), expected.sort_index())


def test_shares_of_other_columns_are_named_in_the_error():
    layout = {"features": ["a", "b"], "categorical": ["a"], "tasks": ["click"]}
    _check_same_layout([layout, dict(layout)])
    with pytest.raises(ValueError, match=r"categorical: \['a'\] in process 0, \[\] in process 2"):
        _check_same_layout([layout, layout, {**layout, "categorical": []}])


def _cache(folder, sizes):
    parts = (
        TensorData(
            {"categorical": torch.zeros(n, 0, dtype=torch.int32), "numeric": torch.ones(n, 1)},
            torch.zeros(n, 1),
        )
        for n in sizes
    )
    return ChunkCache.open_or_write(folder, "0" * 32, parts)


@pytest.mark.parametrize("fraction", [None, 0.3])
def test_a_share_counts_its_full_batches_whatever_the_order(tmp_path, fraction):
    cache = _cache(tmp_path, [50, 23, 41, 9])
    train = ChunkTensors(cache, fraction, "train", seed=3, shuffle_buffer=2)
    steps = train.full_batches(8)
    for _ in range(3):  # shuffled passes: groups of chunks in new orders
        iterator = BatchIterator(train, 8, shuffle=True, steps=steps)
        sizes = [len(targets) for _, (targets, _) in iterator]
        assert sizes == [8] * steps == [8] * len(iterator)
    if fraction is None:
        assert steps == 6 + 2 + 5 + 1
    # A larger share than the agreed steps skips its surplus batches.
    assert len(list(BatchIterator(train, 8, shuffle=True, steps=3))) == 3


def test_a_share_without_a_full_batch_is_refused(tmp_path):
    train = ChunkTensors(_cache(tmp_path, [5]), None, "train", seed=0)
    assert train.full_batches(8) == 0
    assert train.summed_over_shares([1.0, 2.0]) == [1.0, 2.0]
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        group = DataParallel("cpu")
        assert group.agreed_steps(3, 8) == 3
        with pytest.raises(ValueError, match=r"fewer training rows than one step takes from it \(8"):
            group.agreed_steps(train.full_batches(8), 8)
    finally:
        dist.destroy_process_group()
