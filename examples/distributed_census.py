"""
===========================================================================
Data-parallel MMoE on census-income: the same script in one process or many
===========================================================================

Run it in one process (``python examples/distributed_census.py``) or in
several, started by ``torchrun``::

    torchrun --nproc-per-node 2 examples/distributed_census.py

Under ``torchrun`` the script joins the process group (gloo on CPU, nccl on
GPUs); the estimator sees the group and trains data-parallel: each process
loads the same data and trains on its share of the rows, gradients are
averaged, and every process ends with the same fitted model. Process 0
prints the per-task test ROC AUC and a checksum of the fitted weights.
``--out`` writes that summary, per process, as JSON.

The documentation runs the script in one process, on fewer rows
(``--train-rows``, ``--max-epochs``): its output is below the code. A build
cannot start ``torchrun``; on two CPU processes of one machine, with
``OMP_NUM_THREADS=1``, process 0 printed::

    $ torchrun --nproc-per-node 2 examples/distributed_census.py --max-epochs 3
    {
      "rank": 0,
      "world_size": 2,
      "fit_seconds": 12.830524001999947,
      "n_iter": 3,
      "test_roc_auc": {
        "roc_auc_income": 0.9151240371864279,
        "roc_auc_never_married": 0.9889206993816555
      },
      "weights_sha256": "c45f69d2a2c841ddd9853fad3d8e8e9d5d4599e8291b739dc9bea3445d471fff"
    }

Process 1 ends with the same weights (the same checksum): each process
trained on half of the training rows of each epoch, and the averaged gradients
kept the copies equal.
"""

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from sklearn_mtl import MMoEClassifier  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402


def weights_checksum(model):
    """SHA-256 of the fitted module's weights, equal only for equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.net_.module_.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--train-rows", type=int, default=None, help="use the first rows only")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    parser.add_argument("--out", default=None, help="folder for each process's JSON summary")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    launched = "RANK" in os.environ  # set by torchrun
    if launched:
        # torchrun sets the rendezvous (MASTER_ADDR, RANK, WORLD_SIZE...) in the environment.
        backend = "nccl" if args.device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        if args.device.startswith("cuda"):
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    rank = dist.get_rank() if launched else 0

    train = load_census_income(subset="train")
    test = load_census_income(subset="test")
    X, Y = train.data, train.target
    if args.train_rows is not None:
        X, Y = X.iloc[: args.train_rows], Y.iloc[: args.train_rows]

    model = MMoEClassifier(
        categorical_features=train.categorical_features,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, Y)  # every process passes the same X and Y
    seconds = time.perf_counter() - start

    scores = {
        name: scorer(model, test.data, test.target)
        for name, scorer in task_scorers(model.task_names_).items()
    }
    summary = {
        "rank": rank,
        "world_size": dist.get_world_size() if launched else 1,
        "fit_seconds": seconds,
        "n_iter": model.n_iter_,
        "test_roc_auc": scores,
        "weights_sha256": weights_checksum(model),
    }
    if rank == 0:
        print(json.dumps(summary, indent=2))
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, f"rank{rank}.json").write_text(json.dumps(summary))
    if launched:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
