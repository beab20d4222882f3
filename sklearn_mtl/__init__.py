"""Multi-task deep learning estimators with a scikit-learn API."""

from ._data import ChunkedData
from ._task_view import TaskView
from .models import (
    AITMClassifier,
    AdaTTClassifier,
    ESCM2Classifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    STEMClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
)

__version__ = "0.1.0"

__all__ = [
    "AITMClassifier",
    "AdaTTClassifier",
    "ChunkedData",
    "ESCM2Classifier",
    "ESMMClassifier",
    "MMoEClassifier",
    "PLEClassifier",
    "STEMClassifier",
    "SharedBottomClassifier",
    "SingleTaskClassifier",
    "TaskView",
]
