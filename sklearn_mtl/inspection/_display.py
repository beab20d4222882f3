"""Display objects: training curves, expert utilisation and AITM attention.

matplotlib is imported only when a display draws, so that importing
:mod:`sklearn_mtl` never needs it (install the ``plots`` extra to draw).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._pipeline import final_estimator, unwrap
from .._shared import fill_doc

_EXAMPLE_AGG = """\
>>> import matplotlib
>>> matplotlib.use("Agg")"""

#: What the displays' docstrings share: the set-up of their examples (a
#: non-interactive backend; funnel data) and the drawn state of the displays
#: of per-epoch curves.
_DISPLAY_DOC = {
    "display_example_agg": _EXAMPLE_AGG,
    "display_example_funnel": _EXAMPLE_AGG + """
>>> from sklearn_mtl.datasets import make_funnel
>>> X, Y = make_funnel(1000, random_state=0, return_X_y=True)""",
    "curve_display_epochs": """\
epochs : ndarray of shape (n_epochs,)
    Epoch numbers, from 1.""",
    "curve_display_name_and_attributes": """\
estimator_name : str, default=None
    Name shown in the figure title.

Attributes
----------
axes_ : ndarray of matplotlib Axes
    One Axes per drawn panel.
figure_ : matplotlib Figure
    The figure of the axes.
lines_ : dict of str to dict of str to matplotlib Line2D
    The drawn lines, by panel and label, as in ``curves``.""",
}

_PANELS = ("loss", "metric", "loss_weight")


def _pyplot(caller):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib: pip install matplotlib, or install "
            "sklearn_mtl with its plots extra (in its source checkout: "
            "pip install -e '.[plots]')."
        ) from exc
    return plt


def _get_axes(ax, n_panels, caller):
    """One matplotlib Axes per panel: the given ones, or a new row of them."""
    plt = _pyplot(caller)

    if ax is None:
        fig, axes = plt.subplots(
            1, n_panels, figsize=(4.5 * n_panels, 3.8), squeeze=False, layout="constrained"
        )
        return fig, axes[0]
    axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
    if len(axes) != n_panels:
        raise ValueError(
            f"{caller} draws {n_panels} panel(s) but ax holds {len(axes)} Axes; pass "
            f"{n_panels} Axes or ax=None."
        )
    return axes[0].figure, axes


def _fitted_model(estimator, needs, display):
    """The fitted estimator at the end of ``estimator``, which must have ``needs``."""
    model = final_estimator(estimator)
    check_is_fitted(model)
    if not hasattr(model, needs):
        raise TypeError(
            f"{display} needs a fitted multi-task estimator with {needs} (or a Pipeline "
            f"ending in one); got {type(model).__name__}."
        )
    return model


def _expert_names(tasks, n_experts, n_specific):
    """Column labels of a gate heatmap: each task's own experts first, then the shared."""
    if not n_specific:
        return [f"expert {i}" for i in range(n_experts)]
    owners = [task for task in tasks for _ in range(n_specific)]
    owners += ["shared"] * (n_experts - len(owners))
    return [f"{owner} {i}" for i, owner in enumerate(owners)]


def _display_doc(cls):
    return fill_doc(cls, _DISPLAY_DOC)


@_display_doc
class TrainingHistoryDisplay:
    """Per-task training curves: losses, validation scores and loss weights.

    Build it with :meth:`from_estimator`; the constructor only stores the
    curves.

    Parameters
    ----------
    {curve_display_epochs}
    curves : dict of str to dict of str to ndarray
        For each panel (``"loss"``, ``"metric"``, ``"loss_weight"``), the
        curves drawn in it by label, each of shape ``(n_epochs,)``. NaN
        where an epoch did not record the value.
    metric : str
        The validation metric of the ``"metric"`` panel, e.g. ``"roc_auc"``.
    {curve_display_name_and_attributes}

    See Also
    --------
    GateWeightsDisplay : Expert utilisation of MMoE and PLE gates.

    Examples
    --------
    {display_example_funnel}
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.inspection import TrainingHistoryDisplay
    >>> model = MMoEClassifier(max_epochs=3, early_stopping=True, random_state=0).fit(X, Y)
    >>> display = TrainingHistoryDisplay.from_estimator(model)
    >>> sorted(display.lines_)
    ['loss', 'loss_weight', 'metric']
    >>> sorted(display.lines_["metric"])
    ['click', 'conversion']
    """

    def __init__(self, *, epochs, curves, metric, estimator_name=None):
        self.epochs = epochs
        self.curves = curves
        self.metric = metric
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls, estimator, *, metric="roc_auc", panels=_PANELS, validation=True, ax=None
    ):
        """Draw the training history of a fitted multi-task estimator.

        Parameters
        ----------
        estimator : estimator or Pipeline
            A fitted multi-task estimator, or a fitted Pipeline ending in one.
        metric : str, default="roc_auc"
            Validation metric shown per task (history keys
            ``valid_<metric>_<task>``), e.g. ``"average_precision"`` or,
            for regression tasks, ``"r2"``.
        panels : sequence of {"loss", "metric", "loss_weight"}, default=all
            Panels to draw, left to right. A panel with nothing recorded
            (e.g. ``"metric"`` without a validation set) is left out.
        validation : bool, default=True
            Whether the loss panel also shows each task's validation loss
            (dashed) next to its training loss.
        ax : sequence of matplotlib Axes, default=None
            One Axes per drawn panel; a new figure when None.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the figure drawn.
        """
        unknown = set(panels) - set(_PANELS)
        if unknown:
            raise ValueError(f"Unknown panels {sorted(unknown)}; choose among {list(_PANELS)}.")
        model = _fitted_model(estimator, "history_", cls.__name__)
        history = list(model.history_)
        tasks = [str(name) for name in model.task_names_]

        def column(key):
            return np.array([row.get(key, np.nan) for row in history], dtype=float)

        keys = {
            "loss": {f"train {t}": f"train_loss_{t}" for t in tasks},
            "metric": {t: f"valid_{metric}_{t}" for t in tasks},
            "loss_weight": {t: f"loss_weight_{t}" for t in tasks},
        }
        if validation:
            keys["loss"].update({f"valid {t}": f"valid_loss_{t}" for t in tasks})
        curves = {}
        for panel in panels:
            drawn = {label: column(key) for label, key in keys[panel].items()}
            drawn = {label: values for label, values in drawn.items() if np.isfinite(values).any()}
            if drawn:
                curves[panel] = drawn
        if not curves:
            raise ValueError(
                f"{type(model).__name__}.history_ records none of the panels {list(panels)}."
            )
        display = cls(
            epochs=np.arange(1, len(history) + 1),
            curves=curves,
            metric=metric,
            estimator_name=type(model).__name__,
        )
        return display.plot(ax=ax)

    def _titles(self):
        return {
            "loss": "loss per task",
            "metric": f"validation {self.metric} per task",
            "loss_weight": "loss weight per task",
        }

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : sequence of matplotlib Axes, default=None
            One Axes per panel of ``curves``; a new figure when None.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with ``axes_``, ``figure_`` and ``lines_`` set.
        """
        titles = self._titles()
        self.figure_, self.axes_ = _get_axes(ax, len(self.curves), f"{type(self).__name__}.plot")
        self.lines_ = {}
        for axis, (panel, drawn) in zip(self.axes_, self.curves.items()):
            colours = {}
            self.lines_[panel] = {}
            for label, values in drawn.items():
                # A task keeps its colour across the train and valid curves.
                task = label.split(" ", 1)[-1] if label.startswith(("train ", "valid ")) else label
                style = "--" if label.startswith("valid ") else "-"
                (line,) = axis.plot(
                    self.epochs, values, style, label=label, color=colours.get(task)
                )
                colours.setdefault(task, line.get_color())
                self.lines_[panel][label] = line
            axis.set(title=titles[panel], xlabel="epoch")
            axis.legend(fontsize="small")
        if self.estimator_name:
            self.figure_.suptitle(self.estimator_name)
        return self


@_display_doc
class ExpertHealthDisplay(TrainingHistoryDisplay):
    """Expert health of a mixture-of-experts model per epoch, from its history.

    Three panels: each expert's share of zero outputs (its ReLU's silence;
    one line per expert and group, e.g. ``experts 3`` or
    ``levels_0_shared_experts 0``), each task gate's entropy (0: one
    expert, 1: an even spread) and each expert's exclusivity (the share of
    its use from the task that uses it most: ``1 / n_tasks`` when all use
    it alike, 1 when one task has it to itself). Build it with
    :meth:`from_estimator`; the constructor only stores the curves.

    Parameters
    ----------
    {curve_display_epochs}
    curves : dict of str to dict of str to ndarray
        For each panel (``"zero_share"``, ``"gate_entropy"``,
        ``"exclusivity"``), the curves drawn in it by label, each of shape
        ``(n_epochs,)``.
    {curve_display_name_and_attributes}

    See Also
    --------
    GateWeightsDisplay : The fitted gates' weights on data.

    Examples
    --------
    {display_example_agg}
    >>> from sklearn_mtl import STEMClassifier
    >>> from sklearn_mtl.inspection import ExpertHealthDisplay
    {census_example_data}
    >>> model = STEMClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> display = ExpertHealthDisplay.from_estimator(model)
    >>> sorted(display.lines_["gate_entropy"])
    ['income', 'never_married']
    >>> list(display.lines_["zero_share"])  # task 0's, task 1's, the shared expert
    ['levels_0_specific_experts 0', 'levels_0_specific_experts 1', 'levels_0_shared_experts 0']
    """

    def __init__(self, *, epochs, curves, estimator_name=None):
        super().__init__(epochs=epochs, curves=curves, metric=None,
                         estimator_name=estimator_name)

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        """Draw the expert health a fitted gated model recorded per epoch.

        Parameters
        ----------
        estimator : estimator or Pipeline
            A fitted mixture-of-experts estimator (MMoE, PLE, STEM, AdaTT),
            or a fitted Pipeline ending in one.
        ax : sequence of 3 matplotlib Axes, default=None
            One Axes per panel; a new figure when None.

        Returns
        -------
        display : ExpertHealthDisplay
            The display, with the figure drawn.
        """
        model = _fitted_model(estimator, "history_", cls.__name__)
        history = list(model.history_)
        if "expert_exclusivity" not in history[-1]:
            raise TypeError(
                f"ExpertHealthDisplay needs a mixture-of-experts model, whose history "
                f"records its experts' health; {type(model).__name__} has no gates."
            )

        def per_expert(key):
            # (n_epochs, n_experts); an epoch without the entry is NaN.
            width = len(history[-1][key])
            return np.array([row.get(key, [np.nan] * width) for row in history], dtype=float)

        prefix = "expert_zero_share_"
        zero_share = {
            f"{key[len(prefix):]} {e}": values
            for key in history[-1]
            if key.startswith(prefix)
            for e, values in enumerate(per_expert(key).T)
        }
        entropy = {
            str(t): np.array([row.get(f"gate_entropy_{t}", np.nan) for row in history])
            for t in model.task_names_
        }
        exclusivity = {
            f"expert {e}": values for e, values in enumerate(per_expert("expert_exclusivity").T)
        }
        display = cls(
            epochs=np.arange(1, len(history) + 1),
            curves={"zero_share": zero_share, "gate_entropy": entropy,
                    "exclusivity": exclusivity},
            estimator_name=type(model).__name__,
        )
        return display.plot(ax=ax)

    def _titles(self):
        return {
            "zero_share": "share of zero outputs per expert",
            "gate_entropy": "gate entropy per task",
            "exclusivity": "exclusivity per expert",
        }


@_display_doc
class GateWeightsDisplay:
    """Expert utilisation: each gate's mean weight on each expert, as heatmaps.

    One heatmap per gating level: a single one for MMoE (rows are tasks),
    one per CGC level for PLE (rows are the task gates, plus the shared gate
    below the last level). A gate that puts nearly all its weight on one
    expert has collapsed onto it.

    Parameters
    ----------
    utilisation : list of ndarray of shape (n_gates, n_experts)
        Per level, each gate's weights averaged over the samples.
    gate_names : list of list of str
        Per level, the row labels.
    expert_names : list of list of str
        Per level, the column labels.
    estimator_name : str, default=None
        Name shown in the figure title.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        One Axes per level.
    figure_ : matplotlib Figure
        The figure of the axes.
    images_ : list of matplotlib AxesImage
        The heatmaps, one per level.
    texts_ : list of ndarray of matplotlib Text
        The value written in each cell, one array per level.

    See Also
    --------
    sklearn_mtl.MMoEClassifier.gate_weights : The per-sample weights.
    sklearn_mtl.PLEClassifier.gate_weights : The per-sample weights per level.

    Examples
    --------
    {display_example_funnel}
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.inspection import GateWeightsDisplay
    >>> model = MMoEClassifier(num_experts=3, max_epochs=2, random_state=0).fit(X, Y)
    >>> display = GateWeightsDisplay.from_estimator(model, X)
    >>> display.utilisation[0].shape
    (2, 3)
    >>> display.utilisation[0].sum(axis=1).round(6)
    array([1., 1.])
    """

    def __init__(self, *, utilisation, gate_names, expert_names, estimator_name=None):
        self.utilisation = utilisation
        self.gate_names = gate_names
        self.expert_names = expert_names
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X, *, ax=None, cmap="viridis", values_format=".2f"):
        """Average the gate weights over ``X`` and draw them.

        Parameters
        ----------
        estimator : estimator or Pipeline
            A fitted estimator with a ``gate_weights(X)`` method
            (:class:`~sklearn_mtl.MMoEClassifier`,
            :class:`~sklearn_mtl.PLEClassifier`), or a fitted Pipeline
            ending in one.
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator`` (of the Pipeline when it is one).
        ax : sequence of matplotlib Axes, default=None
            One Axes per level; a new figure when None.
        cmap : str or matplotlib Colormap, default="viridis"
            Colormap of the heatmaps.
        values_format : str or None, default=".2f"
            Format of the value written in each cell; None writes none.

        Returns
        -------
        display : GateWeightsDisplay
            The display, with the figure drawn.
        """
        model, Xt = unwrap(estimator, X)
        model = _fitted_model(model, "gate_weights", cls.__name__)
        weights = model.gate_weights(Xt)
        # MMoE gives one array, PLE a list with one per level.
        levels = weights if isinstance(weights, list) else [weights]
        tasks = [str(name) for name in model.task_names_]
        # PLE's experts belong to a task or are shared; MMoE's are all shared.
        n_specific = getattr(model, "num_specific_experts", 0)
        utilisation, gate_names, expert_names = [], [], []
        for level in levels:
            n_gates, n_experts = level.shape[1:]
            utilisation.append(level.mean(axis=0))
            gate_names.append(tasks + ["shared"] * (n_gates - len(tasks)))
            expert_names.append(_expert_names(tasks, n_experts, n_specific))
        display = cls(
            utilisation=utilisation,
            gate_names=gate_names,
            expert_names=expert_names,
            estimator_name=type(model).__name__,
        )
        return display.plot(ax=ax, cmap=cmap, values_format=values_format)

    def plot(self, ax=None, *, cmap="viridis", values_format=".2f"):
        """Draw one heatmap per level.

        Parameters
        ----------
        ax : sequence of matplotlib Axes, default=None
            One Axes per level; a new figure when None.
        cmap : str or matplotlib Colormap, default="viridis"
            Colormap of the heatmaps (0 to 1).
        values_format : str or None, default=".2f"
            Format of the value written in each cell; None writes none.

        Returns
        -------
        display : GateWeightsDisplay
            The display, with ``axes_``, ``figure_``, ``images_`` and
            ``texts_`` set.
        """
        self.figure_, self.axes_ = _get_axes(ax, len(self.utilisation), "GateWeightsDisplay.plot")
        self.images_, self.texts_ = [], []
        many = len(self.utilisation) > 1
        for j, (axis, values) in enumerate(zip(self.axes_, self.utilisation)):
            image = axis.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
            texts = np.empty(values.shape, dtype=object)
            if values_format is not None:
                for (g, e), value in np.ndenumerate(values):
                    colour = "black" if value > 0.5 else "white"
                    texts[g, e] = axis.text(
                        e, g, format(value, values_format), ha="center", va="center",
                        color=colour, fontsize="small",
                    )
            axis.set_xticks(range(values.shape[1]), self.expert_names[j], rotation=45, ha="right")
            axis.set_yticks(range(values.shape[0]), self.gate_names[j])
            axis.set(xlabel="expert", ylabel="gate", title=f"level {j + 1}" if many else None)
            self.images_.append(image)
            self.texts_.append(texts)
        self.figure_.colorbar(self.images_[-1], ax=list(self.axes_), label="mean gate weight")
        if self.estimator_name:
            self.figure_.suptitle(f"{self.estimator_name}: expert utilisation")
        return self


@_display_doc
class AttentionDisplay:
    """AITM's attention: how much each step takes from the previous one.

    For each step after the first, the distribution over samples of the
    attention weight its AIT module puts on the information transferred
    from the previous step (the rest goes to the step's own
    representation).

    Parameters
    ----------
    transfer_weights : ndarray of shape (n_samples, n_steps - 1)
        Weight on the transferred information, per sample and later step.
    step_names : list of str
        Labels of the transfers, e.g. ``["click -> conversion"]``.
    estimator_name : str, default=None
        Name shown in the title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The Axes drawn on.
    figure_ : matplotlib Figure
        The figure of the Axes.
    counts_ : list of ndarray
        Per transfer, the histogram counts drawn (they sum to
        ``n_samples``).
    patches_ : list of list of matplotlib Patch
        Per transfer, the histogram's artists.

    See Also
    --------
    sklearn_mtl.AITMClassifier.attention_weights : The per-sample weights.

    Examples
    --------
    {display_example_funnel}
    >>> from sklearn_mtl import AITMClassifier
    >>> from sklearn_mtl.inspection import AttentionDisplay
    >>> model = AITMClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> display = AttentionDisplay.from_estimator(model, X)
    >>> display.step_names
    ['click -> conversion']
    >>> int(display.counts_[0].sum())
    1000
    """

    def __init__(self, *, transfer_weights, step_names, estimator_name=None):
        self.transfer_weights = transfer_weights
        self.step_names = step_names
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X, *, bins=20, ax=None):
        """Compute the attention weights on ``X`` and draw their distribution.

        Parameters
        ----------
        estimator : estimator or Pipeline
            A fitted estimator with an ``attention_weights(X)`` method
            (:class:`~sklearn_mtl.AITMClassifier`), or a fitted Pipeline
            ending in one.
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator`` (of the Pipeline when it is one).
        bins : int, default=20
            Number of histogram bins over [0, 1].
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : AttentionDisplay
            The display, with the figure drawn.
        """
        model, Xt = unwrap(estimator, X)
        model = _fitted_model(model, "attention_weights", cls.__name__)
        weights = model.attention_weights(Xt)
        steps = [str(name) for name in model.task_names_]
        display = cls(
            transfer_weights=weights[:, :, 0],
            step_names=[f"{a} -> {b}" for a, b in zip(steps[:-1], steps[1:])],
            estimator_name=type(model).__name__,
        )
        return display.plot(ax=ax, bins=bins)

    def plot(self, ax=None, *, bins=20):
        """Draw one histogram per transfer.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        bins : int, default=20
            Number of histogram bins over [0, 1].

        Returns
        -------
        display : AttentionDisplay
            The display, with ``ax_``, ``figure_``, ``counts_`` and
            ``patches_`` set.
        """
        self.figure_, (self.ax_,) = _get_axes(
            None if ax is None else [ax], 1, "AttentionDisplay.plot"
        )
        self.counts_, self.patches_ = [], []
        for t, name in enumerate(self.step_names):
            weights = self.transfer_weights[:, t]
            counts, _, patches = self.ax_.hist(
                weights, bins=bins, range=(0.0, 1.0), histtype="stepfilled", alpha=0.5,
                label=f"{name} (mean {weights.mean():.2f})",
            )
            self.counts_.append(counts)
            self.patches_.append(list(patches))
        self.ax_.set(
            xlabel="attention weight on the transferred information",
            ylabel="samples",
            title=f"{self.estimator_name}: transfer attention" if self.estimator_name else None,
        )
        self.ax_.legend(fontsize="small")
        return self
