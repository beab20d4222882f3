"""Serve a fitted model outside scikit-learn: its inputs, its encoding, TorchScript, ONNX.

A fitted estimator (or a Pipeline ending in one) is an encoder, which turns
``X`` into category codes and standardized numerics, followed by a torch
module, which turns those into logits, and a link per task (sigmoid,
softmax, or the regression target's units). :func:`transform_inputs` and
:func:`feature_encoding` expose the first part; :func:`to_torchscript` and
:func:`to_onnx` export the other two, so that a server that reproduces the
encoding (or calls :func:`transform_inputs`) needs no scikit-learn.

Exports take the single-valued categorical columns and the numeric columns:
a multi-valued (bag) column is a variable-length input that the exported
graph does not take, so exporting a model fitted with one is a ValueError.
"""

import copy
import warnings

import torch
from ._data import TensorData, check_features, module_inputs
from ._fitted import fitted_parts
from ._pipeline import unwrap
from ._shared import fill_doc
from ._targets import BinaryTarget, MulticlassTarget, RegressionTarget

__all__ = ["feature_encoding", "to_onnx", "to_torchscript", "transform_inputs"]

#: Names of the inputs of an exported model, in the order ``forward`` takes them.
INPUT_NAMES = ("categorical", "numeric")

#: What the exporters' docstrings share: their error on bags, and the data of
#: the examples (a categorical and a numeric column) and a model fitted on it.
_EXAMPLE_DATA = """\
>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"city": pd.Categorical(["a", "b", "a", "c"] * 10),
...                   "age": np.arange(40.0)})"""
_EXPORT_DOC = {
    "raises_bags": """\
Raises
------
ValueError
    If the model has multi-valued (bag) columns.""",
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

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Input of ``estimator``.

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


#: Each task type's output in an exported model.
_LINKS = {
    BinaryTarget: _BinaryLink,
    MulticlassTarget: _SoftmaxLink,
    RegressionTarget: _RegressionLink,
}


class _Serving(torch.nn.Module):
    """A fitted module followed by each task's link: one output per task."""

    def __init__(self, module, links):
        super().__init__()
        self.module = module
        self.links = torch.nn.ModuleList(links)

    def forward(self, categorical, numeric):
        logits = self.module(categorical, numeric)
        return [link(logits) for link in self.links]


def _serving_module(estimator, action):
    parts = fitted_parts(estimator)
    encoder = parts.encoder
    if len(encoder.multi_index):
        names = encoder.encoding().multi_valued_features
        raise ValueError(
            f"Cannot {action} a model with multi-valued (bag) columns {names}: the "
            "exported graph takes fixed-width inputs only. Use the estimator itself, "
            "or fit without these columns."
        )
    links = [
        _LINKS[type(target)](column, target)
        for column, target in zip(parts.output_columns, parts.targets)
    ]
    # A copy: exporting must not change the fitted module (eval mode, device).
    module = copy.deepcopy(parts.module).to("cpu")
    return parts.model, _Serving(module, links).eval().requires_grad_(False)


@_export_doc
def to_torchscript(estimator):
    """The fitted network and its links as a :func:`torch.jit.script` module.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.

    Returns
    -------
    torch.jit.ScriptModule
        On the CPU, in eval mode. ``forward(categorical, numeric)`` takes
        :func:`transform_inputs`'s tensors and returns one tensor per task,
        in ``task_names_`` order: the ``predict_proba`` slot of a binary or
        multiclass task, the ``predict`` value of a regression task.

    {raises_bags}

    Examples
    --------
    {export_example_data}
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.export import to_torchscript, transform_inputs
    >>> Y = np.tile([[0, 1], [1, 0]], (20, 1))
    >>> est = MMoEClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> scripted = to_torchscript(est)
    >>> proba = scripted(**transform_inputs(est, X))
    >>> bool(np.allclose(proba[1].numpy(), est.predict_proba(X)[1], atol=1e-6))
    True
    """
    _, serving = _serving_module(estimator, "script")
    return torch.jit.script(serving)


@_export_doc
def to_onnx(estimator, path, X_sample):
    """Export the fitted network and its links to an ONNX file with a dynamic batch size.

    Needs the ``onnx`` extra (``onnx``, ``onnxscript``; ``onnxruntime`` to
    run the result). The model's inputs are :data:`INPUT_NAMES`:
    ``categorical`` (int64 codes) and ``numeric`` (standardized values),
    as :func:`transform_inputs` gives them; its outputs, named by
    ``task_names_``, are each task's ``predict_proba`` slot (its
    ``predict`` value for a regression task).

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.
    path : str or path-like
        Where the ``.onnx`` file goes.
    X_sample : {array-like, DataFrame}
        A few rows of input (of ``estimator``), to trace the network with;
        any batch size runs the exported model.

    Returns
    -------
    onnx_program : torch.onnx.ONNXProgram
        The exported program (already saved to ``path``).

    {raises_bags}

    Examples
    --------
    >>> import onnxruntime, tempfile, os
    {export_example_data}
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.export import to_onnx, transform_inputs
    >>> Y = np.tile([[0, 0], [1, 0], [1, 1], [0, 0]], (10, 1))
    >>> est = ESMMClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> path = os.path.join(tempfile.mkdtemp(), "esmm.onnx")
    >>> _ = to_onnx(est, path, X.head(2))
    >>> session = onnxruntime.InferenceSession(path)
    >>> feeds = {k: v.numpy() for k, v in transform_inputs(est, X).items()}
    >>> ctr, ctcvr = session.run(None, feeds)
    >>> bool(np.allclose(ctcvr, est.predict_proba(X)[1], atol=1e-5))
    True
    """
    model, serving = _serving_module(estimator, "export")
    inputs = transform_inputs(estimator, X_sample)
    if len(inputs["numeric"]) < 2:
        # torch.export specializes a dimension of size 1: trace with two rows.
        inputs = {name: t.repeat(2, 1) for name, t in inputs.items()}
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        # Both inputs share the batch axis on purpose; torch.onnx warns that it names it once.
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used")
        program = torch.onnx.export(
            serving,
            tuple(inputs[name] for name in INPUT_NAMES),
            input_names=list(INPUT_NAMES),
            output_names=[str(name) for name in model.task_names_],
            dynamic_shapes=({0: batch}, {0: batch}),
            dynamo=True,
            verbose=False,
        )
    program.save(path)
    return program
