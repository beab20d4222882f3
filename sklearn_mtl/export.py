"""Serve a fitted model outside scikit-learn: its inputs, its encoding, TorchScript, ONNX.

A fitted estimator (or a Pipeline ending in one) is an encoder, which turns
``X`` into category codes and standardized numerics, followed by a torch
module, which turns those into logits, and a link per task (sigmoid,
softmax, or the regression target's units). :func:`transform_inputs` and
:func:`feature_encoding` expose the first part; :func:`to_torchscript` and
:func:`to_onnx` export the other two, so that a server that reproduces the
encoding (or calls :func:`transform_inputs`) needs no scikit-learn.

The exported graph takes the category codes of the single-valued columns,
the standardized numeric columns and, for a model with multi-valued (bag)
columns, the bags' items flat with their offsets, the layout of
:func:`torch.nn.functional.embedding_bag` (:data:`BAG_INPUT_NAMES`; ONNX
only, TorchScript cannot take them). :func:`serving_inputs` gives them for
``X``. Its outputs are named by :func:`output_names`: a funnel model's
steps are end-to-end probabilities, followed by the conditional rate of
each later step.
"""

import copy
import warnings
from typing import List, Optional

import torch
from torch.nn import functional as F

from ._data import TensorData, check_features, module_inputs
from ._fitted import fitted_parts
from ._pipeline import unwrap
from ._shared import fill_doc
from ._targets import BinaryTarget, MulticlassTarget, RegressionTarget
from .nn import CategoricalInputs

__all__ = [
    "feature_encoding",
    "output_names",
    "serving_inputs",
    "to_onnx",
    "to_torchscript",
    "transform_inputs",
]

#: Names of the inputs of an exported model, in the order ``forward`` takes them.
INPUT_NAMES = ("categorical", "numeric")

#: The inputs that follow :data:`INPUT_NAMES` for a model with multi-valued
#: columns: ``bag_items`` (int64, ``(n_items,)``), every bag's item codes,
#: column by column (all rows' bags of the first multi-valued column, then
#: the second's...); ``bag_offsets`` (int64, ``(n_samples,
#: n_multi_valued)``), where row ``i``'s bag of column ``j`` starts in
#: ``bag_items`` (``bag_offsets.T.ravel()`` is ``embedding_bag``'s
#: ``offsets``; a bag ends where the next one starts, the last at
#: ``n_items``); ``bag_weights`` (float32, ``(n_items,)``), the items'
#: weights, only when a column holds ``{item: weight}`` bags.
BAG_INPUT_NAMES = ("bag_items", "bag_offsets", "bag_weights")

#: What the exporters' docstrings share: their error on bags, the parameters of
#: the functions of X, and the data of the examples (a categorical and a
#: numeric column) and a model fitted on it.
_EXAMPLE_DATA = """\
>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"city": pd.Categorical(["a", "b", "a", "c"] * 10),
...                   "age": np.arange(40.0)})"""
_ESTIMATOR_PARAM = """\
estimator : estimator or Pipeline
    A fitted multi-task estimator, or a fitted Pipeline ending in one."""
_EXPORT_DOC = {
    "raises_bags": """\
Raises
------
ValueError
    If the model has multi-valued (bag) columns: TorchScript cannot take
    them, export to ONNX instead.""",
    "estimator_param": _ESTIMATOR_PARAM,
    "estimator_X_params": f"""\
Parameters
----------
{_ESTIMATOR_PARAM}
X : {{array-like, DataFrame}} of shape (n_samples, n_features)
    Input of ``estimator``.""",
    "export_example_data": _EXAMPLE_DATA,
    "export_example_model": _EXAMPLE_DATA + """
>>> from sklearn_mtl import SharedBottomClassifier
>>> Y = np.tile([[0, 1], [1, 0]], (20, 1))
>>> est = SharedBottomClassifier(max_epochs=1, random_state=0).fit(X, Y)""",
}


def _export_doc(func):
    return fill_doc(func, _EXPORT_DOC)


@_export_doc
def transform_inputs(estimator, X):
    """The fitted module's ``forward`` inputs for ``X``.

    ``X`` goes through the steps of a Pipeline before its final estimator,
    then through the estimator's encoding (see :func:`feature_encoding`):
    ``estimator``'s network applied to the result gives the logits that
    ``predict_proba`` turns into probabilities.

    {estimator_X_params}

    Returns
    -------
    inputs : dict
        ``"categorical"``: the int64 codes ``(n_samples, n_categorical)``
        of the single-valued categorical columns (a
        :class:`~sklearn_mtl.nn.CategoricalInputs` with the bags when the
        model has multi-valued columns); ``"numeric"``: the standardized
        numeric columns ``(n_samples, n_numeric)`` in the estimator's
        ``dtype``.

    Examples
    --------
    >>> from sklearn_mtl.export import transform_inputs
    {export_example_model}
    >>> inputs = transform_inputs(est, X.head(3))
    >>> inputs["categorical"].tolist(), inputs["numeric"].shape
    ([[1], [2], [1]], torch.Size([3, 1]))
    >>> logits = est.net_.module_.eval()(**inputs)
    >>> bool(np.allclose(torch.sigmoid(logits[:, 0]).detach().numpy(),
    ...                  est.predict_proba(X.head(3))[0][:, 1], atol=1e-6))
    True
    """
    model, Xt = unwrap(estimator, X)
    parts = fitted_parts(model)
    Xt = check_features(model, Xt, reset=False)
    parts.encoder.warn_unknown_kinds(Xt)
    data = TensorData(module_inputs(parts.encoder.transform(Xt), parts.dtype))
    # take() widens the compact host codes to int64, as every batch is.
    return data.take(slice(None)).inputs


@_export_doc
def feature_encoding(estimator):
    """How a fitted estimator encodes its input: vocabularies, hashing, numeric statistics.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one
        (the encoding is that of its final estimator's input).

    Returns
    -------
    encoding : Bunch
        ``categorical_features``, ``multi_valued_features``,
        ``numeric_features``: column names (indices for an array ``X``), in
        the order of the module's input columns. ``vocabularies``: per
        vocabulary column, a Series mapping each category to its code
        (``1..K``; the infrequent categories, also listed in
        ``infrequent_categories``, share code ``K + 1``). ``hash_buckets``:
        per hashed column, its number of buckets (code ``1 + hash %
        n_buckets``). ``numeric_mean``, ``numeric_scale``: a numeric input
        is ``(x - mean) / scale``. ``unknown_code``: the code of an unseen
        or missing category.

    Examples
    --------
    >>> from sklearn_mtl.export import feature_encoding
    {export_example_model}
    >>> encoding = feature_encoding(est)
    >>> encoding.categorical_features, encoding.numeric_features
    (['city'], ['age'])
    >>> encoding.vocabularies["city"].to_dict()
    {'a': 1, 'b': 2, 'c': 3}
    >>> encoding.numeric_mean, encoding.unknown_code
    (array([19.5]), 0)
    """
    return fitted_parts(estimator).encoder.encoding()


@_export_doc
def serving_inputs(estimator, X):
    """The exported model's inputs for ``X``, by name, as NumPy arrays.

    The feeds of an ONNX ``InferenceSession`` (or, as tensors, the keyword
    arguments of a TorchScript module): :func:`transform_inputs`' tensors,
    with a model's bags flat (:data:`BAG_INPUT_NAMES`).

    {estimator_X_params}

    Returns
    -------
    feeds : dict of str to ndarray
        :data:`INPUT_NAMES` then, with multi-valued columns,
        :data:`BAG_INPUT_NAMES` (``bag_weights`` only for weighted bags).

    Examples
    --------
    >>> from sklearn_mtl.export import serving_inputs
    {export_example_data}
    >>> X["tags"] = [["new", "sale"], [], ["sale"], ["new"]] * 10
    >>> from sklearn_mtl import SharedBottomClassifier
    >>> Y = np.tile([[0, 1], [1, 0]], (20, 1))
    >>> est = SharedBottomClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> feeds = serving_inputs(est, X.head(3))
    >>> list(feeds)
    ['categorical', 'numeric', 'bag_items', 'bag_offsets']
    >>> feeds["bag_items"].tolist(), feeds["bag_offsets"].tolist()
    ([1, 2, 2], [[0], [2], [2]])
    """
    inputs = transform_inputs(estimator, X)
    categorical = inputs["categorical"]
    if not isinstance(categorical, CategoricalInputs):
        return {name: tensor.numpy() for name, tensor in inputs.items()}
    feeds = {
        "categorical": categorical.codes,
        "numeric": inputs["numeric"],
        "bag_items": categorical.items,
        "bag_offsets": categorical.starts.to(torch.int64),
        "bag_weights": categorical.weights,
    }
    return {name: tensor.numpy() for name, tensor in feeds.items() if tensor is not None}


@_export_doc
def output_names(estimator):
    """Names of an exported model's outputs, in order, by what they hold.

    One output per task, named by ``task_names_``: its ``predict_proba``
    slot (its ``predict`` value for a regression task). A funnel model's
    (ESMM, ESCM2, AITM) task ``t`` is the end-to-end event "steps ``0..t``
    reached": its output is named by the steps, joined by ``"_and_"``
    (``"click_and_conversion"``, pCTCVR), and one output per later step
    follows, the conditional rate :meth:`predict_cvr` gives, named
    ``"<step>_given_<previous step>"`` (``"conversion_given_click"``,
    pCVR), of shape ``(n_samples,)``.

    Parameters
    ----------
    {estimator_param}

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from sklearn_mtl.export import output_names
    {export_example_data}
    >>> from sklearn_mtl import ESMMClassifier
    >>> Y = pd.DataFrame({"click": [0, 1, 1, 0] * 10, "conversion": [0, 0, 1, 0] * 10})
    >>> est = ESMMClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> output_names(est)
    ['click', 'click_and_conversion', 'conversion_given_click']
    """
    return _output_names(fitted_parts(estimator))


def _output_names(parts):
    names = [str(name) for name in parts.model.task_names_]
    if not parts.funnel:
        return names
    steps = ["_and_".join(names[: t + 1]) for t in range(len(names))]
    rates = [f"{names[t]}_given_{names[t - 1]}" for t in range(1, len(names))]
    return steps + rates


# ------------------------------------------------------------------ links


class _BinaryLink(torch.nn.Module):
    """A binary task's ``predict_proba`` slot: ``[1 - p, p]``."""

    def __init__(self, column, target):
        super().__init__()
        self.column = column

    def forward(self, logits):
        p = torch.sigmoid(logits[:, self.column])
        return torch.stack([1.0 - p, p], dim=1)


class _SoftmaxLink(torch.nn.Module):
    """A multiclass task's ``predict_proba`` slot: the softmax of its ``K`` logits."""

    def __init__(self, columns, target):
        super().__init__()
        self.start, self.stop = columns.start, columns.stop

    def forward(self, logits):
        return torch.softmax(logits[:, self.start : self.stop], dim=1)


class _RegressionLink(torch.nn.Module):
    """A regression task's ``predict``: the output in the target's units."""

    def __init__(self, column, target):
        super().__init__()
        self.column = column
        self.mean, self.scale = float(target.mean), float(target.scale)

    def forward(self, logits):
        return logits[:, self.column] * self.scale + self.mean


class _StepRateLink(torch.nn.Module):
    """A funnel step's rate given the previous step: ``predict_cvr``'s column.

    ``P(step_t) / P(step_{t-1})`` from the two end-to-end logits, in log
    space (exact however small both are), at most 1 as ``predict_cvr``.
    """

    def __init__(self, previous, column):
        super().__init__()
        self.previous, self.column = previous, column

    def forward(self, logits):
        log_rate = F.logsigmoid(logits[:, self.column]) - F.logsigmoid(logits[:, self.previous])
        return torch.exp(torch.clamp(log_rate, max=0.0))


#: Each task type's output in an exported model.
_LINKS = {
    BinaryTarget: _BinaryLink,
    MulticlassTarget: _SoftmaxLink,
    RegressionTarget: _RegressionLink,
}


class _Serving(torch.nn.Module):
    """A fitted module followed by each output's link: one output per name."""

    def __init__(self, module, links, names):
        super().__init__()
        self.module = module
        self.links = torch.nn.ModuleList(links)
        # A scripted module keeps them: a C++ server reads attr("output_names").
        self.output_names: List[str] = list(names)

    def forward(self, categorical, numeric):
        return self._outputs(self.module(categorical, numeric))

    def _outputs(self, logits):
        return [link(logits) for link in self.links]


class _BagServing(_Serving):
    """:class:`_Serving` taking the bags flat, as :data:`BAG_INPUT_NAMES`."""

    def forward(
        self,
        categorical,
        numeric,
        bag_items,
        bag_offsets,
        bag_weights: Optional[torch.Tensor] = None,
    ):
        # Each bag ends where the next one (column by column) starts, the last at n_items.
        starts = bag_offsets.T.reshape(-1)
        ends = torch.cat([starts[1:], starts.new_full((1,), bag_items.shape[0])])
        lengths = (ends - starts).reshape(bag_offsets.shape[1], bag_offsets.shape[0]).T
        bags = CategoricalInputs(categorical, bag_items, bag_offsets, lengths, bag_weights)
        return self._outputs(self.module(bags, numeric))


def _serving_module(estimator, action):
    parts = fitted_parts(estimator)
    bags = len(parts.encoder.multi_index) > 0
    if bags and action == "script":
        names = parts.encoder.encoding().multi_valued_features
        raise ValueError(
            f"Cannot script a model with multi-valued (bag) columns {names}: TorchScript "
            "cannot take their variable-length bags. Export it with to_onnx, which takes "
            "them flat with their offsets, or fit without these columns."
        )
    links = [
        _LINKS[type(target)](column, target)
        for column, target in zip(parts.output_columns, parts.targets)
    ]
    if parts.funnel:
        columns = parts.output_columns
        links += [_StepRateLink(columns[t - 1], columns[t]) for t in range(1, len(columns))]
    # A copy: exporting must not change the fitted module (eval mode, device).
    module = copy.deepcopy(parts.module).to("cpu")
    serving = (_BagServing if bags else _Serving)(module, links, _output_names(parts))
    return parts, serving.eval().requires_grad_(False)


@_export_doc
def to_torchscript(estimator):
    """The fitted network and its links as a :func:`torch.jit.script` module.

    Parameters
    ----------
    {estimator_param}

    Returns
    -------
    torch.jit.ScriptModule
        On the CPU, in eval mode. ``forward(categorical, numeric)`` takes
        :func:`transform_inputs`'s tensors and returns a list of tensors,
        named in order by its ``output_names`` attribute (see
        :func:`output_names`): the ``predict_proba`` slot of a binary or
        multiclass task, the ``predict`` value of a regression task, and a
        funnel model's step rates.

    {raises_bags}

    Examples
    --------
    {export_example_data}
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.export import to_torchscript, transform_inputs
    >>> Y = np.tile([[0, 1], [1, 0]], (20, 1))
    >>> est = MMoEClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> scripted = to_torchscript(est)
    >>> scripted.output_names
    ['task_0', 'task_1']
    >>> proba = scripted(**transform_inputs(est, X))
    >>> bool(np.allclose(proba[1].numpy(), est.predict_proba(X)[1], atol=1e-6))
    True
    """
    _, serving = _serving_module(estimator, "script")
    return torch.jit.script(serving)


def _trace_inputs(feeds):
    """Tensors to trace the serving module with (from ``X_sample``'s ``feeds``),
    none of whose dynamic sizes is 0 or 1.

    torch.export specializes a dimension of size 0 or 1 (and ties dimensions
    of equal size), so the bags of ``X_sample`` are replaced by two unknown
    items each: ``2 * n_samples * n_multi_valued`` items, never the batch
    size.
    """
    inputs = {name: torch.from_numpy(feeds[name]) for name in INPUT_NAMES}
    if len(inputs["numeric"]) < 2:
        inputs = {name: t.repeat(2, 1) for name, t in inputs.items()}
    if "bag_items" in feeds:
        n, n_bags = len(inputs["numeric"]), feeds["bag_offsets"].shape[1]
        inputs["bag_items"] = torch.zeros(2 * n * n_bags, dtype=torch.int64)
        inputs["bag_offsets"] = torch.arange(0, 2 * n * n_bags, 2).reshape(n_bags, n).T
        if "bag_weights" in feeds:
            inputs["bag_weights"] = torch.ones(2 * n * n_bags, dtype=torch.float32)
    return tuple(inputs[name] for name in feeds)


@_export_doc
def to_onnx(estimator, path, X_sample):
    """Export the fitted network and its links to an ONNX file with a dynamic batch size.

    Needs the ``onnx`` extra (``onnx``, ``onnxscript``; ``onnxruntime`` to
    run the result). The model's inputs are :data:`INPUT_NAMES`:
    ``categorical`` (int64 codes) and ``numeric`` (standardized values),
    as :func:`transform_inputs` gives them, followed for a model with
    multi-valued (bag) columns by :data:`BAG_INPUT_NAMES`, the items flat
    and their offsets (:func:`serving_inputs` gives them all); every
    pooling (``"sum"``, ``"mean"``, ``"max"``) exports. Its outputs, named
    by :func:`output_names`, are each task's ``predict_proba`` slot (its
    ``predict`` value for a regression task) and a funnel model's step
    rates.

    Parameters
    ----------
    {estimator_param}
    path : str or path-like
        Where the ``.onnx`` file goes.
    X_sample : {array-like, DataFrame}
        A few rows of input (of ``estimator``), to trace the network with;
        any batch size and any number of bag items run the exported model.

    Returns
    -------
    onnx_program : torch.onnx.ONNXProgram
        The exported program (already saved to ``path``).

    Examples
    --------
    >>> import onnxruntime, tempfile, os
    {export_example_data}
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.export import serving_inputs, to_onnx
    >>> Y = np.tile([[0, 0], [1, 0], [1, 1], [0, 0]], (10, 1))
    >>> est = ESMMClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> path = os.path.join(tempfile.mkdtemp(), "esmm.onnx")
    >>> _ = to_onnx(est, path, X.head(2))
    >>> session = onnxruntime.InferenceSession(path)
    >>> [output.name for output in session.get_outputs()]
    ['task_0', 'task_0_and_task_1', 'task_1_given_task_0']
    >>> ctr, ctcvr, cvr = session.run(None, serving_inputs(est, X))
    >>> bool(np.allclose(ctcvr, est.predict_proba(X)[1], atol=1e-5))
    True
    >>> bool(np.allclose(cvr, est.predict_cvr(X), atol=1e-5))
    True
    """
    parts, serving = _serving_module(estimator, "export")
    feeds = serving_inputs(estimator, X_sample)
    input_names = list(feeds)
    batch, items = torch.export.Dim("batch"), torch.export.Dim("items")
    axes = {"categorical": {0: batch}, "numeric": {0: batch}, "bag_items": {0: items},
            "bag_offsets": {0: batch}, "bag_weights": {0: items}}
    with warnings.catch_warnings():
        # The inputs share the batch axis on purpose; torch.onnx warns that it names it once.
        warnings.filterwarnings("ignore", message=".*axis name: (batch|items) will not be used")
        program = torch.onnx.export(
            serving,
            _trace_inputs(feeds),
            input_names=input_names,
            output_names=_output_names(parts),
            dynamic_shapes=tuple(axes[name] for name in input_names),
            dynamo=True,
            verbose=False,
        )
    program.save(path)
    return program
