"""Multi-task deep learning estimators with a scikit-learn API."""

from .models import (
    AITMClassifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
)

__version__ = "0.1.0"

__all__ = [
    "AITMClassifier",
    "ESMMClassifier",
    "MMoEClassifier",
    "PLEClassifier",
    "SharedBottomClassifier",
    "SingleTaskClassifier",
]
