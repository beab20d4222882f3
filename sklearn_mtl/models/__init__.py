"""The multi-task models: each file holds a torch module and its estimator."""

from ._mmoe import MMoE, MMoEClassifier
from ._ple import PLE, PLEClassifier
from ._shared_bottom import SharedBottom, SharedBottomClassifier

__all__ = [
    "MMoE",
    "MMoEClassifier",
    "PLE",
    "PLEClassifier",
    "SharedBottom",
    "SharedBottomClassifier",
]
