"""Single-task baselines: one independent network per task, in the multi-task API."""

import copy

import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._shared import fill_doc
from ..nn import MixedInputEmbedding, ParallelMLP, TaskTowers
from ._shared_bottom import (
    BOTTOM_TOWER_CONSTRAINTS,
    BOTTOM_TOWER_PARAMS,
    bottom_tower_network_params,
)


def _fresh_copy(module):
    """A deep copy of ``module`` with every layer re-initialised; an embedding
    table at its own ``init_std`` (``reset_parameters`` would draw N(0, 1))."""
    module = copy.deepcopy(module)
    redrawn = set()
    for layer in module.modules():
        if isinstance(layer, MixedInputEmbedding):
            layer.redraw()
            redrawn.update(id(child) for child in layer.modules())
        elif hasattr(layer, "reset_parameters") and id(layer) not in redrawn:
            layer.reset_parameters()
    return module


@fill_doc
class SingleTask(nn.Module):
    """One independent embedding, bottom MLP and tower per task.

    Task ``k``'s logit is ``tower_k(bottom_k(embed_k(x)))``: the layout of
    :class:`SharedBottom`, with nothing shared. The tasks' bottoms and
    towers run as one batched matmul each.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding of the first task; every other task gets a
        re-initialised copy of it.
    n_tasks : int
        Number of tasks.
    bottom_hidden_units, tower_hidden_units : tuple of int
        Layer widths of each task's bottom and tower.
    dropout : float
        Dropout after every hidden layer.
    {output_widths}
    batch_norm : bool, default=False
        BatchNorm in the hidden layers of the bottoms and the towers.

    Examples
    --------
    {module_example_inputs}
    >>> from sklearn_mtl.models import SingleTask
    >>> module = SingleTask(MixedInputEmbedding([5], 3, 4), 2,
    ...                     bottom_hidden_units=(8,), tower_hidden_units=(4,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> module.embeddings[0].table.weight.data_ptr() != module.embeddings[1].table.weight.data_ptr()
    True
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        bottom_hidden_units,
        tower_hidden_units,
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
    ):
        super().__init__()
        self.embeddings = nn.ModuleList(
            [embedding, *(_fresh_copy(embedding) for _ in range(n_tasks - 1))]
        )
        self.bottoms = ParallelMLP(
            n_tasks, embedding.out_features, bottom_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.towers = TaskTowers(
            n_tasks, self.bottoms.out_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def forward(self, categorical, numeric):
        x = torch.stack([embed(categorical, numeric) for embed in self.embeddings], dim=1)
        return self.towers(self.bottoms(x))


class SingleTaskClassifier(BaseMultiTaskClassifier):
    """Single-task baselines: one independent network per task, in one estimator.

    Each task gets its own embeddings, bottom MLP and tower (the layout of
    :class:`SharedBottomClassifier`, with nothing shared), so its weights
    see only its own loss. It answers the first question of multi-task
    learning, whether sharing helps at all (negative transfer, the
    "seesaw"), with the same data path, settings and API as the
    multi-task models: compare it per task with them.

    Parameters
    ----------
    bottom_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of each task's bottom MLP.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task's tower (before its output logit).
    {shared}

    See Also
    --------
    SharedBottomClassifier : The same layout with the bottom shared.

    Notes
    -----
    The networks are trained jointly on the sum of the task losses, but
    since no parameter is shared, each task's parameters get the gradient
    of that task's loss only. Training is therefore the same as training
    each task alone with the same optimizer, on the same mini-batches in
    the same order, except that: a batch's rows whose label of a task is
    unobserved (NaN) are in that task's batch but do not count (a separate
    model would form batches of its labelled rows only); early stopping
    monitors one value (by default the mean validation ROC AUC over the
    tasks) and stops, and restores, every task at the same epoch; and the
    loss-weighting strategies that need shared parameters (``"gradnorm"``,
    ``"pcgrad"``) do not apply. Changing one task's labels leaves the other
    tasks' predictions unchanged.

    Examples
    --------
    >>> from sklearn_mtl import SingleTaskClassifier
    {census_example_data}
    >>> model = SingleTaskClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> model.predict(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **BOTTOM_TOWER_CONSTRAINTS,
    }
    _own_params = BOTTOM_TOWER_PARAMS
    _doc_layers = "each task's bottom and tower"
    _parameter_notes = {
        "task_weights": "With Adam it barely matters here, as no parameter sees two "
        "tasks' losses.",
    }
    _mixes_task_types = True

    def _build_module(self, embedding, n_tasks):
        return SingleTask(embedding, n_tasks, **bottom_tower_network_params(self))
