"""Data-parallel training across processes (torch.distributed, gloo on CPU)."""

import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import sklearn_mtl
from sklearn_mtl import ChunkedData, MMoEClassifier
from sklearn_mtl._data import BatchIterator, TensorData
from sklearn_mtl._training import RowShard

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed without the gloo backend",
)

EXAMPLE = Path(__file__).parents[1] / "examples" / "distributed_census.py"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_example(out, *launcher):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        # The processes import the package under test, wherever it lies.
        "PYTHONPATH": str(Path(sklearn_mtl.__file__).parents[1]),
    }
    command = [sys.executable, *launcher, str(EXAMPLE), "--max-epochs", "3", "--out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [json.loads(p.read_text()) for p in sorted(Path(out).glob("rank*.json"))]


def test_torchrun_example_matches_a_single_process(tmp_path):
    (single,) = _run_example(tmp_path / "one")
    launcher = ["-m", "torch.distributed.run", "--nproc-per-node", "2"]
    launcher += ["--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    ranks = _run_example(tmp_path / "two", *launcher)

    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    # Every process ends with the same weights and the same history length.
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["n_iter"] == ranks[1]["n_iter"]
    # Trained on shares of the rows, not on all rows in each process.
    assert ranks[0]["weights_sha256"] != single["weights_sha256"]
    for task, auc in single["test_roc_auc"].items():
        assert abs(ranks[0]["test_roc_auc"][task] - auc) < 0.01, (task, ranks[0], single)


def test_row_shards_are_disjoint_equal_and_shared_per_pass():
    shards = [RowShard(rank, 3, seed=7) for rank in range(3)]
    for _ in range(2):  # two passes: a new permutation, the same in every process
        rows = [shard.rows(11, shuffle=True) for shard in shards]
        assert [len(r) for r in rows] == [3, 3, 3]
        together = torch.cat(rows)
        assert len(set(together.tolist())) == 9
    first = [RowShard(0, 3, seed=7).rows(11, shuffle=True) for _ in range(2)]
    assert torch.equal(first[0], first[1])
    assert RowShard(1, 2, seed=0).rows(5, shuffle=False).tolist() == [1, 3]


def test_batch_iterator_gives_each_process_its_share():
    data = TensorData({"numeric": torch.arange(10.0).reshape(10, 1)}, torch.zeros(10, 1))
    seen = []
    for rank in range(2):
        iterator = BatchIterator(data, 2, shuffle=True, shard=RowShard(rank, 2, seed=3))
        batches = [inputs["numeric"].flatten().tolist() for inputs, _ in iterator]
        assert len(batches) == len(iterator) == 3
        seen.append(sum(batches, []))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(10))


def _data(n=240, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 0] > 0]).astype(float)
    return X, Y


def _worker(rank, world_size, rendezvous, out):
    dist.init_process_group(
        "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size
    )
    torch.set_num_threads(1)
    report = {}
    X, Y = _data()
    params = dict(max_epochs=2, batch_size=64, random_state=0, early_stopping=True)

    model = MMoEClassifier(loss_weighting="uncertainty", **params).fit(X, Y)
    report["history"] = [
        [row["train_loss"], row["valid_loss"], row["valid_roc_auc"]] for row in model.history_
    ]
    report["state"] = {
        **{k: v.tolist() for k, v in model.net_.module_.state_dict().items()},
        "log_vars": model.net_.loss_weighting_.log_vars.tolist(),
    }

    normed = MMoEClassifier(batch_norm=True, **params).fit(X, Y)
    report["batch_norm"] = {
        "history": [[row["valid_loss"], row["valid_roc_auc"]] for row in normed.history_],
        "state": {k: v.tolist() for k, v in normed.net_.module_.state_dict().items()},
    }

    # The table trains from sparse gradients, which DDP all-reduces over gloo.
    frame = pd.DataFrame(X, columns=list("abcd")).assign(
        id=pd.Categorical(np.arange(len(X)) % 37)
    )
    sparse = MMoEClassifier(embedding_optimizer="lazy_adam", **params).fit(frame, Y)
    report["sparse"] = {
        "optimizer": type(sparse.net_.optimizer_).__name__,
        "history": [[row["train_loss"], row["valid_loss"]] for row in sparse.history_],
        "state": {k: v.tolist() for k, v in sparse.net_.module_.state_dict().items()},
    }

    def chunks():
        for start in range(0, len(X), 80):
            yield X[start : start + 80], Y[start : start + 80]

    out_of_core = MMoEClassifier(**params).fit(ChunkedData(chunks))
    report["chunked_state"] = {
        k: v.tolist() for k, v in out_of_core.net_.module_.state_dict().items()
    }

    for strategy in ("gradnorm", "pcgrad"):
        try:
            MMoEClassifier(loss_weighting=strategy, **params).fit(X, Y)
        except ValueError as error:
            report[strategy] = str(error)

    X_other, Y_other = _data(seed=rank)
    try:
        MMoEClassifier(**params).fit(X_other, Y_other)
    except ValueError as error:
        report["different_data"] = str(error)

    try:
        MMoEClassifier(**{**params, "batch_size": 1}).fit(X, Y)
    except ValueError as error:
        report["small_batch"] = str(error)

    report["holds_group"] = model.net_.data_parallel is not None or bool(
        model.net_._parallel_module
    )
    dist.destroy_process_group()
    # Outside the group: an ordinary fitted estimator that pickles and predicts.
    restored = pickle.loads(pickle.dumps(model))
    report["proba"] = restored.predict_proba(X[:5])[0].tolist()
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(2, out / "rendezvous", out), nprocs=2, join=True)
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]


def test_processes_record_the_same_history_and_end_with_the_same_weights(reports):
    first, second = reports
    assert first["history"] == second["history"]
    # The uncertainty weights live outside the module: averaged all the same.
    assert first["state"] == second["state"]
    # Out of core, each process takes its share of every chunk.
    assert first["chunked_state"] == second["chunked_state"]
    assert first["proba"] == second["proba"]
    assert np.isfinite(first["proba"]).all()
    assert not first["holds_group"]


def test_batch_norm_statistics_are_the_same_in_every_process(reports):
    # Each process normalises its own rows; their running statistics, averaged at
    # every step, keep validation and the fitted weights the same everywhere.
    first, second = reports
    assert first["batch_norm"] == second["batch_norm"]
    assert any("running_mean" in key for key in first["batch_norm"]["state"])


def test_sparse_table_gradients_are_averaged_too(reports):
    first, second = reports
    assert first["sparse"]["optimizer"] == "SplitOptimizer"
    assert first["sparse"] == second["sparse"]


@pytest.mark.parametrize("strategy", ["gradnorm", "pcgrad"])
def test_per_task_gradient_strategies_are_refused(reports, strategy):
    for report in reports:
        assert "per-task gradients" in report[strategy]


def test_different_data_per_process_is_a_clear_error(reports):
    for report in reports:
        assert "Every process must pass the same X and Y" in report["different_data"]


def test_batch_smaller_than_the_processes_is_a_clear_error(reports):
    for report in reports:
        assert "batch_size=1 is smaller than the number of processes" in report["small_batch"]
