"""Embedding tables trained with sparse gradients and an optimizer of their own.

``embedding_optimizer`` chooses how the embedding table learns: with the
network's optimizer over a dense gradient of the whole table (``"dense"``),
or from a sparse gradient of the rows a batch looks up, with a table
optimizer that updates those rows only (:data:`TABLE_OPTIMIZERS`). The
other parameters keep the estimator's ``optimizer``; :class:`SplitOptimizer`
drives both as one torch optimizer.
"""

from collections.abc import Mapping
from itertools import chain

import torch

from ..loss_weighting import LossWeighting
from ..nn import LazyAdam, MixedInputEmbedding, RowWiseAdagrad
from ..nn._optim import _RowsStep

#: Table optimizers by ``embedding_optimizer`` name.
TABLE_OPTIMIZERS = {"lazy_adam": LazyAdam, "rowwise_adagrad": RowWiseAdagrad}

#: ``embedding_optimizer="auto"`` trains tables of at least this many rows in
#: all sparsely. ESMM's network, batch 2048, one thread (``benchmarks/
#: results_scale.txt``, part ``vocab``): LazyAdam ran at 0.83x dense Adam's
#: samples/s with a table of 2,070 rows, 1.15x with 20,070, 1.9x with 200,070
#: and 19x with 2,000,070. Smaller batches (the default 512) move the crossover
#: lower, never higher: the census tables (hundreds of rows) stay dense.
AUTO_SPARSE_MIN_ROWS = 20_000

#: The network optimizers whose lazy counterpart ``"auto"`` gives the table:
#: the same algorithm on the rows a batch touches. Any other optimizer keeps a
#: dense table, so that ``"auto"`` never changes the algorithm.
_AUTO_TABLE_OPTIMIZERS = {torch.optim.Adam: "lazy_adam", torch.optim.AdamW: "lazy_adam"}


def embedding_tables(module):
    """The :class:`~sklearn_mtl.nn.MixedInputEmbedding` modules of ``module`` that have a table."""
    return [m for m in module.modules() if isinstance(m, MixedInputEmbedding) and m.table is not None]


def choose_table_optimizer(choice, optimizer_class, module, loss_weighting, parallel):
    """The table optimizer class for ``embedding_optimizer=choice``, or None for
    a dense table.

    An explicit sparse choice that cannot train this fit raises a ValueError
    naming the reason; ``"auto"`` falls back to a dense table then.
    """
    if choice == "dense":
        return None
    tables = embedding_tables(module)
    obstacle = _sparse_obstacle(tables, loss_weighting, parallel)
    if choice == "auto":
        rows = sum(m.table.num_embeddings for m in tables)
        name = _AUTO_TABLE_OPTIMIZERS.get(optimizer_class)
        if obstacle or name is None or rows < AUTO_SPARSE_MIN_ROWS:
            return None
        return TABLE_OPTIMIZERS[name]
    if obstacle:
        raise ValueError(
            f"embedding_optimizer={choice!r} trains the embedding table from sparse "
            f"gradients, but {obstacle}. Use embedding_optimizer='auto' (which then "
            "trains the table densely) or 'dense'."
        )
    return TABLE_OPTIMIZERS[choice] if tables else None


def _sparse_obstacle(tables, loss_weighting, parallel):
    """Why this fit cannot train its table from sparse gradients, or None."""
    if type(loss_weighting).backward is not LossWeighting.backward:
        return (
            f"loss_weighting={type(loss_weighting).__name__}() computes per-task gradients "
            "of the shared parameters, the embedding table among them, as dense vectors"
        )
    if any(m.pooling == "max" and m.n_bags for m in tables):
        return (
            "multi_valued_pooling='max' has no sparse gradient in torch (use 'mean' or "
            "'sum' for the multi-valued columns)"
        )
    if parallel is not None and parallel.backend == "nccl":
        return (
            "the data-parallel process group uses the nccl backend, which cannot "
            "all-reduce sparse gradients (gloo can)"
        )
    return None


class _States(Mapping):
    """Each parameter's state, read from the optimizer that holds it.

    Not a ChainMap: looking a table up in the network optimizer's state (a
    defaultdict) would add an entry for it there, which that optimizer's
    ``state_dict`` cannot number.
    """

    def __init__(self, optimizers):
        self.optimizers = optimizers

    def __getitem__(self, param):
        for optimizer in self.optimizers:
            if param in optimizer.state:
                return optimizer.state[param]
        raise KeyError(param)

    def __iter__(self):
        return chain.from_iterable(o.state for o in self.optimizers)

    def __len__(self):
        return sum(len(o.state) for o in self.optimizers)


class SplitOptimizer(_RowsStep, torch.optim.Optimizer):
    """Two optimizers, the network's and the embedding table's, as one.

    skorch, learning-rate schedulers and continued fits see one torch
    optimizer: ``param_groups`` lists the network's groups then the table's
    (the same dicts, so a scheduler's new ``lr`` reaches both), ``step``
    runs the closure once then steps both (the table's touched rows only), and ``state_dict`` is in torch's
    format, parameters numbered across both.

    Parameters
    ----------
    network : torch.optim.Optimizer
        The optimizer of every parameter but the tables.
    table : torch.optim.Optimizer
        The optimizer of the tables (sparse gradients).
    """

    def __init__(self, network, table):
        params = [p for o in (network, table) for g in o.param_groups for p in g["params"]]
        super().__init__(params, {})
        self.optimizers = (network, table)
        self._link()

    def _link(self):
        self.param_groups = [g for o in self.optimizers for g in o.param_groups]
        self.state = _States(self.optimizers)

    def __getstate__(self):
        # torch's Optimizer pickles only its defaults, state and groups.
        return dict(self.__dict__)

    def _step_rows(self):
        for optimizer in self.optimizers:
            optimizer.step()

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of both optimizers' parameters."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        """Both optimizers' state in torch's format, parameters numbered across both."""
        state, groups, offset = {}, [], 0
        for optimizer in self.optimizers:
            part = optimizer.state_dict()
            state.update({index + offset: value for index, value in part["state"].items()})
            groups += [{**g, "params": [i + offset for i in g["params"]]} for g in part["param_groups"]]
            offset += sum(len(g["params"]) for g in part["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a :meth:`state_dict` of a split optimizer of the same parameters."""
        groups = list(state_dict["param_groups"])
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"the state has {len(groups)} parameter groups, the optimizer "
                f"{len(self.param_groups)}"
            )
        offset = 0
        for optimizer in self.optimizers:
            own, groups = groups[: len(optimizer.param_groups)], groups[len(optimizer.param_groups) :]
            indices = {i for g in own for i in g["params"]}
            optimizer.load_state_dict({
                "state": {i - offset: v for i, v in state_dict["state"].items() if i in indices},
                "param_groups": [{**g, "params": [i - offset for i in g["params"]]} for g in own],
            })
            offset += len(indices)
        self._link()
