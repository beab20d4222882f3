"""Multi-task deep learning estimators with a scikit-learn API."""

from .models import MMoEClassifier, PLEClassifier, SharedBottomClassifier

__version__ = "0.1.0"

__all__ = ["MMoEClassifier", "PLEClassifier", "SharedBottomClassifier"]
