"""Multi-task deep learning estimators with a scikit-learn API."""

from ._data import ChunkedData
from .models import (
    AITMClassifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
)

__version__ = "0.1.0"

__all__ = [
    "AITMClassifier",
    "ChunkedData",
    "ESMMClassifier",
    "MMoEClassifier",
    "PLEClassifier",
    "SharedBottomClassifier",
]
