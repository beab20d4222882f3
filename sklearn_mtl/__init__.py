"""Multi-task deep learning estimators with a scikit-learn API."""

from .models import ESMMClassifier, MMoEClassifier, SharedBottomClassifier

__version__ = "0.1.0"

__all__ = ["ESMMClassifier", "MMoEClassifier", "SharedBottomClassifier", "__version__"]
