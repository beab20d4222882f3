"""The training backend: the only part of the package that imports skorch.

:class:`TrainingSession` turns a data source's tensors into a trained
network through a private skorch net (:class:`MultiTaskNet`), with the
callbacks that score tasks, stop early, guard against divergence and record
the gates, in one process or data-parallel under ``torchrun``. A second
backend would sit beside this package and offer the same session.
"""

from ._callbacks import TrainingDivergedError
from ._distributed import RowShard, data_parallel
from ._gates import GateUtilisation, normalized_entropy
from ._net import MultiTaskNet
from ._session import INFERENCE_BATCH_SIZE, TrainingSession
from ._tables import TABLE_OPTIMIZERS

__all__ = [
    "INFERENCE_BATCH_SIZE",
    "GateUtilisation",
    "MultiTaskNet",
    "RowShard",
    "TABLE_OPTIMIZERS",
    "TrainingDivergedError",
    "TrainingSession",
    "data_parallel",
    "normalized_entropy",
]
