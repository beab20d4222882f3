"""ChunkedData's cache of encoded chunks: written once, fingerprinted, read
ahead in a thread, shuffled across chunks; tasks learnt over all chunks."""

import errno
import re
import tempfile
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_mtl import ChunkedData, MMoEClassifier
from sklearn_mtl._data import BatchIterator, ChunkTensors, TensorData
from sklearn_mtl._data._cache import ChunkCache, read_ahead
from sklearn_mtl.nn import CategoricalInputs

from ._settings import FAST_PARAMS

TARGETS = ["click", "like"]
PARAMS = {**FAST_PARAMS, "max_epochs": 2}


def frame(seed, n=120, cities=("a", "b")):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "city": rng.choice(list(cities), n)})
    return X.assign(click=(X["x"] > 0).astype(int), like=rng.randint(0, 2, n))


def write_parts(folder, n_files=3, **kwargs):
    folder.mkdir(exist_ok=True)
    for k in range(n_files):
        frame(k, **kwargs).to_parquet(folder / f"part-{k}.parquet")
    return folder


def fit(source, **params):
    return MMoEClassifier(categorical_features=["city"], **{**PARAMS, **params}).fit(source)


def caches(folder):
    return sorted(p.name for p in folder.iterdir())


class Fail(Callback):
    def on_batch_end(self, net, **kwargs):
        raise ValueError("a failing callback")


class Interrupt(Callback):
    def on_batch_end(self, net, **kwargs):
        raise KeyboardInterrupt


def read_ahead_threads():
    return [t for t in threading.enumerate() if t.name == "sklearn_mtl-read-ahead"]


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """A private system temporary directory, to see what a fit leaves there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ------------------------------------------------------------- the cache on disk


def test_a_cache_dir_is_reused_for_the_same_files_and_never_when_one_changed(
    tmp_path, monkeypatch
):
    pytest.importorskip("pyarrow")
    data, cache_dir = write_parts(tmp_path / "data"), tmp_path / "cache"
    source = ChunkedData(data, target_columns=TARGETS, chunk_rows=50, cache_dir=cache_dir)
    first = fit(source)
    assert len(caches(cache_dir)) == 1

    def no_writing(*args, **kwargs):
        raise AssertionError("a complete cache was written again")

    with monkeypatch.context() as patch:
        patch.setattr(np, "save", no_writing)
        again = fit(ChunkedData(data, target_columns=TARGETS, chunk_rows=50, cache_dir=cache_dir))
    X = frame(7).drop(columns=TARGETS)
    for p, q in zip(first.predict_proba(X), again.predict_proba(X)):
        np.testing.assert_array_equal(p, q)

    # Rewritten with a new city: a stale cache would train on the old codes.
    frame(1, cities=("a", "b", "c")).to_parquet(data / "part-1.parquet")
    changed = fit(ChunkedData(data, target_columns=TARGETS, chunk_rows=50, cache_dir=cache_dir))
    assert len(caches(cache_dir)) == 2
    assert list(changed._feature_encoder.categories_[0]) == ["a", "b", "c"]
    # Other reading settings are other encoded rows, hence other caches.
    fit(ChunkedData(data, target_columns=TARGETS[::-1], chunk_rows=50, cache_dir=cache_dir))
    assert len(caches(cache_dir)) == 3


def test_a_fit_leaves_no_temporary_files_behind_even_when_it_fails(tmp_path, own_tmp):
    pytest.importorskip("pyarrow")
    data = write_parts(tmp_path / "data")
    fit(ChunkedData(data, target_columns=TARGETS, chunk_rows=50))
    assert caches(own_tmp) == []
    with pytest.raises(ValueError, match="a failing callback"):
        fit(ChunkedData(data, target_columns=TARGETS, chunk_rows=50), callbacks=[Fail()])
    assert caches(own_tmp) == []
    # A callable's chunks have no fingerprint: their cache lives for one fit,
    # even in a cache_dir.
    cache_dir = tmp_path / "cache"
    chunks = ChunkedData(lambda: [(f.drop(columns=TARGETS), f[TARGETS]) for f in (frame(0),)],
                         cache_dir=cache_dir)
    fit(chunks)
    assert caches(cache_dir) == [] and caches(own_tmp) == []


@pytest.mark.parametrize("make_dir", ["a file", "disk full"])
def test_an_unwritable_or_full_cache_dir_is_named_and_left_clean(tmp_path, monkeypatch, make_dir):
    pytest.importorskip("pyarrow")
    data = write_parts(tmp_path / "data")
    cache_dir = tmp_path / "cache"
    if make_dir == "a file":
        cache_dir.write_text("not a directory")
        problem = "Make the directory writable"
    else:
        cache_dir.mkdir()
        calls = []

        def full(file, array, *args, **kwargs):
            calls.append(1)
            if len(calls) > 3:  # fails part of the way through
                raise OSError(errno.ENOSPC, "No space left on device")
            file.write(b"\0" * 16)

        monkeypatch.setattr(np, "save", full)
        problem = "The disk is full"
    source = ChunkedData(data, target_columns=TARGETS, chunk_rows=50, cache_dir=cache_dir)
    with pytest.raises(ValueError, match=f"cache .* in {re.escape(str(cache_dir))}.*{problem}"):
        fit(source)
    if make_dir == "disk full":
        assert caches(cache_dir) == []  # no partial cache


def test_a_partial_cache_of_another_process_is_never_read(tmp_path):
    parts = [_positions(0, 10)]
    (tmp_path / "chunks-key").mkdir()  # another writer's, without its meta.json
    (tmp_path / "chunks-key" / "000000.codes.npy").write_bytes(b"partial")
    with pytest.raises(ValueError, match="could not write its cache"):
        ChunkCache.open_or_write(tmp_path, "key", parts)
    assert caches(tmp_path) == ["chunks-key"]  # ours removed, theirs untouched


# ------------------------------------------------------------------- read ahead


def test_read_ahead_yields_in_order_and_raises_the_threads_error_here():
    assert list(read_ahead(lambda k: k * k, range(5))) == [0, 1, 4, 9, 16]

    def load(k):
        if k == 2:
            raise ValueError(f"chunk {k} is corrupt")
        return k

    got = []
    with pytest.raises(ValueError, match="chunk 2 is corrupt"):
        for value in read_ahead(load, range(5)):
            got.append(value)
    assert got == [0, 1] and not read_ahead_threads()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, GeneratorExit])
def test_read_ahead_stops_its_thread_when_the_reader_stops(stop):
    items = read_ahead(lambda k: k, range(1000))
    assert next(items) == 0
    if stop is GeneratorExit:
        items.close()  # a reader that stops early, e.g. the gate statistics
    else:
        with pytest.raises(KeyboardInterrupt):
            items.throw(KeyboardInterrupt)
    assert not read_ahead_threads()


def test_an_interrupted_fit_leaves_no_reading_thread():
    chunks = [(f.drop(columns=TARGETS), f[TARGETS]) for f in (frame(0), frame(1), frame(2))]
    source = ChunkedData(lambda: chunks, shuffle_buffer=1)
    try:
        fit(source, callbacks=[Interrupt()])
    except (KeyboardInterrupt, ValueError):
        pass
    assert not read_ahead_threads()


# ---------------------------------------------------------------- shuffling


def _positions(start, n):
    """A chunk whose one numeric column is each row's position in the log."""
    return TensorData(
        {
            "categorical": torch.zeros((n, 1), dtype=torch.int32),
            "numeric": torch.arange(start, start + n, dtype=torch.float32)[:, None],
        },
        torch.zeros((n, 1)),
    )


def test_an_epoch_mixes_the_chunks_of_a_time_ordered_log(tmp_path):
    n, n_chunks = 100, 8
    cache = ChunkCache.open_or_write(
        tmp_path, "key", [_positions(k * n, n) for k in range(n_chunks)]
    )
    data = ChunkTensors(cache, None, "train", seed=0, shuffle_buffer=4)

    def epoch():
        batches = BatchIterator(data, batch_size=32, shuffle=True)
        return [(inputs["numeric"][:, 0] // n).long() for inputs, _ in batches]

    first = epoch()
    # Every row once per epoch, and nearly every batch from several chunks.
    assert sorted(torch.cat(first).tolist()) == sorted(np.repeat(range(n_chunks), n).tolist())
    assert np.mean([len(b.unique()) > 1 for b in first]) > 0.9

    def chunk_sets(data):
        return [set((p.inputs["numeric"][:, 0] // n).long().tolist())
                for p in data.chunks(shuffle=True)]

    # Each epoch reads the chunks in another order, not in time order; the
    # order comes from the seed (the estimator's random_state), not from a
    # global generator.
    epochs = [chunk_sets(data) for _ in range(3)]
    assert len({str(e) for e in epochs}) == 3
    assert all(e[0] != {0, 1, 2, 3} for e in epochs)
    torch.manual_seed(1)
    fresh = ChunkTensors(cache, None, "train", seed=0, shuffle_buffer=4)
    assert [chunk_sets(fresh) for _ in range(4)][1:] == epochs  # after the first epoch


def test_bags_survive_the_cache_and_the_mixing_of_chunks(tmp_path):
    rng = np.random.RandomState(0)
    parts, bags = [], {}
    for k in range(3):
        n = 20 + k
        rows = [[list(rng.randint(1, 9, size=rng.randint(0, 4))) for _ in range(n)]
                for _ in range(2)]
        codes = torch.arange(k * 100, k * 100 + n, dtype=torch.int32)[:, None]
        inputs = CategoricalInputs.from_bags(codes, rows)
        for i in range(n):
            bags[k * 100 + i] = [rows[0][i], rows[1][i]]
        parts.append(TensorData({"categorical": inputs, "numeric": torch.zeros((n, 0))},
                                torch.zeros((n, 1))))
    cache = ChunkCache.open_or_write(tmp_path, "key", parts)
    seen = 0
    for part in ChunkTensors(cache, None, "train", seed=1, shuffle_buffer=2).chunks(True):
        batch = part.take(torch.randperm(len(part))).inputs["categorical"]
        for i, row in enumerate(batch.codes[:, 0].tolist()):
            got = [batch.items[s : s + n].tolist()
                   for s, n in zip(batch.starts[i].tolist(), batch.lengths[i].tolist())]
            assert got == bags[row]
            seen += 1
    assert seen == len(bags)


# ------------------------------------------------------- tasks over all chunks


def test_tasks_classes_and_categories_are_learnt_over_all_chunks():
    chunks = []
    for k in range(4):
        f = frame(k, cities=("a", "b", "z") if k == 3 else ("a", "b"))
        f["like"] = int(k == 2) if k < 3 else 0  # positives in chunk 2 only
        f["spend"] = np.arange(len(f)) * (k + 1.0)
        chunks.append((f.drop(columns=[*TARGETS, "spend"]), f[[*TARGETS, "spend"]]))
    model = fit(ChunkedData(lambda: chunks),
                task_types=["binary", "binary", "regression"])
    assert [list(c) for c in model.classes_[:2]] == [[0, 1], [0, 1]]
    assert list(model._feature_encoder.categories_[0]) == ["a", "b", "z"]
    spend = pd.concat([Y["spend"] for _, Y in chunks])
    assert model._task_targets[2].mean == pytest.approx(spend.mean())
    assert model._task_targets[2].scale == pytest.approx(spend.std(ddof=0))
