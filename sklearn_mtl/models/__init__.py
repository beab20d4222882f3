"""The multi-task models: each file holds a torch module and its estimator."""

from ._adatt import AdaTTClassifier
from ._aitm import AITM, AITMClassifier
from ._escm2 import ESCM2, ESCM2Classifier
from ._esmm import ESMM, ESMMClassifier
from ._mmoe import MMoE, MMoEClassifier
from ._ple import PLE, PLEClassifier
from ._shared_bottom import SharedBottom, SharedBottomClassifier
from ._single_task import SingleTask, SingleTaskClassifier
from ._stem import STEMClassifier

__all__ = [
    "AITM",
    "AdaTTClassifier",
    "AITMClassifier",
    "ESCM2",
    "ESCM2Classifier",
    "ESMM",
    "ESMMClassifier",
    "MMoE",
    "MMoEClassifier",
    "PLE",
    "PLEClassifier",
    "STEMClassifier",
    "SharedBottom",
    "SharedBottomClassifier",
    "SingleTask",
    "SingleTaskClassifier",
]
