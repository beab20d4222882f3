"""What every estimator shares: its common parameters (defaults and
documentation, written once), its fitted attributes' documentation, and the
machinery that gives each model an explicit keyword signature and a composed
docstring.

A model declares only what is its own: ``_own_params`` (name -> default, in
signature order; a subclass adds to its parent's), ``_doc_layers`` (the
layers that ``dropout`` and ``batch_norm`` act on) and, where a shared entry
needs a model-specific sentence, ``_parameter_notes``/``_attribute_notes``.
Its docstring lists its own parameters and ends the Parameters and Attributes
sections with the ``{shared_parameters}`` and ``{shared_attributes}`` lines.
"""

import inspect
import textwrap

#: Parameters of every model, in signature order after the model's own.
SHARED_PARAMS = {
    "batch_norm": False,
    "max_epochs": "auto",
    "batch_size": "auto",
    "lr": 1e-3,
    "optimizer": "adam",
    "optimizer_params": None,
    "weight_decay": 0.0,
    "dropout": 0.0,
    "embedding_dim": 8,
    "embedding_init_std": "auto",
    "interaction": None,
    "interaction_params": None,
    "embedding_optimizer": "auto",
    "categorical_features": "from_dtype",
    "multi_valued_pooling": "mean",
    "min_frequency": None,
    "max_categories": None,
    "hash_buckets": None,
    "task_weights": None,
    "loss_weighting": "fixed",
    "early_stopping": "auto",
    "early_stopping_monitor": "valid_roc_auc",
    "validation_fraction": 0.1,
    "n_iter_no_change": 5,
    "callbacks": None,
    "device": "cpu",
    "n_threads": "auto",
    "dtype": "float32",
    "precision": None,
    "random_state": None,
    "verbose": 0,
    "warm_start": False,
    "pos_weight": None,
}

#: Parameters of the models that mix task types (funnel steps are binary);
#: they follow ``loss_weighting`` in the signature.
TASK_TYPE_PARAMS = {"task_types": None, "regression_loss": "mse"}

#: Parameters that only steer training: a continued fit (``warm_start``,
#: ``partial_fit``) uses their current values. Every other parameter defines
#: the fitted network or its data encoding and cannot change in between.
TRAINING_PARAMS = (
    "max_epochs",
    "batch_size",
    "lr",
    "optimizer",
    "optimizer_params",
    "weight_decay",
    "embedding_optimizer",
    "early_stopping",
    "early_stopping_monitor",
    "validation_fraction",
    "n_iter_no_change",
    "callbacks",
    "device",
    "n_threads",
    "precision",
    "random_state",
    "verbose",
    "warm_start",
)

PARAMETER_DOCS = {
    "batch_norm": """\
batch_norm : bool, default=False
    Batch normalisation after the linear map of every hidden layer of the
    {layers} (``Linear -> BatchNorm -> activation -> dropout``, as in
    torch-rechub); gates (before their softmax it would rescale the gate
    logits per batch), attention and output logits never get it. In
    training it normalises with each batch's own statistics, unweighted by
    ``sample_weight`` (so weighting a row is not the same as repeating it);
    predictions use the running statistics (eval mode). A last training
    batch of one row joins the batch before it; training data of one row,
    or ``batch_size=1``, is a ValueError. On the full census-income set it
    raised held-out AUC (see the user guide); it is off by default because
    of the weighting above.""",
    "max_epochs": """\
max_epochs : int or "auto", default="auto"
    Passes over the training data (an upper bound with early stopping).
    ``"auto"`` is 100 when the fit holds out rows for early stopping (or is
    given ``X_val``), so that early stopping, not the cap, ends it, and 20
    without, the cap then being the only brake on overfitting. On the
    accuracy suite's data a cap of 20 ended a third of the early-stopped fits;
    100 raised some held-out AUCs (by up to 0.002) and lowered none.""",
    "batch_size": """\
batch_size : int or "auto", default="auto"
    Rows per training mini-batch; validation and prediction run in
    batches of this many rows or 4,096, whichever is larger. ``"auto"`` is
    ``clip(n_samples // 16, 16, 512)``: at least 16 optimizer steps per
    epoch on a small table, 512 rows from 8,192 training rows on.""",
    "lr": """\
lr : float, default=1e-3
    Learning rate.""",
    "optimizer": """\
optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
    Optimizer: a name, or a subclass of ``torch.optim.Optimizer``. Adam
    and AdamW run torch's fused kernel (``fused=True``, the same update up
    to rounding, several times faster per step on CPU) unless
    ``optimizer_params`` sets ``fused`` or ``foreach``.""",
    "optimizer_params": """\
optimizer_params : dict, default=None
    Further keyword arguments of the optimizer, e.g. ``{"momentum": 0.9,
    "nesterov": True}`` for SGD or ``{"betas": (0.9, 0.99)}`` for Adam,
    checked against its signature (``lr`` and ``weight_decay`` are
    parameters of their own).""",
    "weight_decay": """\
weight_decay : float, default=0.0
    Weight decay passed to the optimizer.""",
    "dropout": """\
dropout : float, default=0.0
    Dropout probability after each hidden layer of the {layers}.""",
    "embedding_dim": """\
embedding_dim : int, default=8
    Width of each categorical column's embedding.""",
    "embedding_init_std": """\
embedding_init_std : "auto", float or None, default="auto"
    Standard deviation of the normal distribution the embedding table
    starts from; None keeps torch's N(0, 1). ``"auto"`` takes N(0, 1)
    when the fit plans fewer than 200 optimizer steps (training batches
    per epoch times the epochs ``max_epochs`` allows; one epoch for a first
    ``partial_fit`` call); otherwise 1e-4 (DeepCTR-Torch's and
    torch-rechub's), or 0.05 for a sparse table, whose rows an epoch
    looks up fewer than 40 times on average (training rows times
    embedded columns over the table's rows, hashed buckets included:
    hashed user and item IDs). ``embedding_init_std_`` holds the value
    used, kept by continued fits. On census income (2,000 to 199,523
    rows), 1e-4 raised held-out income AUC at every data size given 160
    steps or more, and lost on one task or the other in fits of 100
    steps or fewer: see :class:`~sklearn_mtl.nn.MixedInputEmbedding`.
    On click logs with hashed user and item IDs (rows looked up about 2
    and 20 times an epoch), 0.05 raised the CVR ranking of the funnel
    models at a click AUC within 0.005 of 1e-4's (the user guide gives
    the numbers).""",
    "interaction": """\
interaction : {"dcn_v2", "dcn_v2_mix", "fm"} or None, default=None
    An explicit feature-interaction block between the embedding and the
    {layers}, which then read its output: ``"dcn_v2"``, DCN-v2's
    full-rank cross network (:class:`~sklearn_mtl.nn.CrossNetwork`, in
    place of the embedding); ``"dcn_v2_mix"``, its low-rank mixture of
    experts (:class:`~sklearn_mtl.nn.CrossNetworkMix`, in place of the
    embedding); ``"fm"``, a factorisation machine's pooled pairwise
    interactions (:class:`~sklearn_mtl.nn.FactorizationMachine`) beside
    the embedding, as in DeepFM. None: the embedding alone. See the user
    guide's page on interactions.""",
    "interaction_params": """\
interaction_params : dict, default=None
    Options of the ``interaction`` block: ``num_layers`` for
    ``"dcn_v2"``; ``num_layers``, ``num_experts`` and ``low_rank`` for
    ``"dcn_v2_mix"``; ``numeric_factors`` and ``output`` for ``"fm"``;
    and for each, ``combine`` (``"replace"`` or ``"concat"``: whether the
    embedding output is passed on beside the block's). An unknown key is
    a ValueError.""",
    "embedding_optimizer": """\
embedding_optimizer : {"auto", "dense", "lazy_adam", "rowwise_adagrad"}, default="auto"
    How the embedding table learns. ``"dense"``: with ``optimizer``, from a
    gradient of the whole table, every row updated each step.
    ``"lazy_adam"`` and ``"rowwise_adagrad"``: from a sparse gradient of the
    rows a batch looks up, with :class:`~sklearn_mtl.nn.LazyAdam` or
    :class:`~sklearn_mtl.nn.RowWiseAdagrad` at ``lr``, updating those rows
    only, so that a step costs the same at a thousand IDs or ten million;
    the other parameters keep ``optimizer``, ``optimizer_params`` and
    ``weight_decay``. On the table, ``weight_decay`` is AdamW's decoupled
    decay of the touched rows (``lazy_adam``) or an L2 term in the touched
    rows' gradients (``rowwise_adagrad``): an ID absent from a batch is
    neither updated nor decayed. Optimizer state per ID: ``8 *
    embedding_dim`` bytes for ``lazy_adam`` (Adam's two moments), 4 for
    ``rowwise_adagrad``. ``"auto"`` trains tables of 20,000 rows or more
    with ``lazy_adam`` when ``optimizer`` is Adam or AdamW, where the
    sparse step is faster (``benchmarks/results_scale.txt``), and densely
    otherwise (so small vocabularies train as before). Gradient-based
    ``loss_weighting`` (GradNorm, PCGrad), ``multi_valued_pooling="max"``
    over multi-valued columns and data-parallel training over the nccl
    backend need dense table gradients: ``"auto"`` then trains densely, an
    explicit table optimizer is a ValueError. A training parameter; a
    continued fit carries the table optimizer's state over when the choice
    is unchanged.""",
    "categorical_features": """\
categorical_features : "from_dtype", array-like, callable or None, default="from_dtype"
    Which columns are categorical: ``"from_dtype"`` takes pandas
    ``category`` columns; else a boolean mask, column indices, column
    names (``city`` also matches a ColumnTransformer's ``cat__city``),
    or a column selector called on ``X`` such as
    ``make_column_selector(dtype_include="category")``; ``None`` means none.
    Categorical columns are embedded; a
    category unseen at fit time, or a missing value, maps to a reserved
    code. All other columns must be numeric and finite; they are
    standardized with the training mean and standard deviation.""",
    "multi_valued_pooling": """\
multi_valued_pooling : {"mean", "sum", "max"}, default="mean"
    How the item embeddings of a multi-valued categorical column (a
    column of lists, tuples or arrays, found by ``"from_dtype"`` or
    declared in ``categorical_features``) are pooled per row. An empty
    list or a missing value pools to zeros. A column of ``{item:
    weight}`` dicts has weighted items: weighted sum or mean.""",
    "min_frequency": """\
min_frequency : int or float, default=None
    As in :class:`~sklearn.preprocessing.OrdinalEncoder`: categories
    seen fewer times (int) or in a smaller fraction of the rows (float)
    share one infrequent code. Not applied to hashed columns.""",
    "max_categories": """\
max_categories : int, default=None
    As in :class:`~sklearn.preprocessing.OrdinalEncoder`: at most this
    many codes per column, the infrequent code included.""",
    "hash_buckets": """\
hash_buckets : int or dict, default=None
    Hash categories into this many buckets instead of learning a
    vocabulary: an int for every categorical column, or a dict from
    column name (or index) to buckets. For unbounded ID spaces and for
    categories first seen in later ``partial_fit`` chunks.""",
    "task_weights": """\
task_weights : array-like of shape (n_tasks,), default=None
    Weight of each task's loss; all ones when None. Only with
    ``loss_weighting="fixed"``.""",
    "loss_weighting": """\
loss_weighting : str or LossWeighting, default="fixed"
    How the task losses are balanced: ``"fixed"`` (``task_weights``),
    ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"pcgrad"``,
    ``"progressive"`` (PLE's ``task_weights`` decayed per epoch), or a
    strategy of :mod:`sklearn_mtl.loss_weighting` such as
    ``GradNorm(alpha=1.5)``. The weights in use are recorded per epoch
    in ``history_`` (``loss_weight_<task>``).""",
    "task_types": """\
task_types : list of {"binary", "multiclass", "regression"}, default=None
    The type of each task; all ``"binary"`` when None. A multiclass
    task of ``K`` classes gets ``K`` logits and a softmax
    cross-entropy; its ``predict_proba`` slot is ``(n_samples, K)``
    and its validation metrics are ``roc_auc_ovr`` (macro one-vs-rest),
    ``accuracy`` and ``log_loss_multiclass``. A regression task is
    trained on its standardized target, ``predict`` gives its values
    in the original units, its ``predict_proba`` slot is None and
    ``score`` counts its R2; its validation metrics are ``r2`` and
    ``mean_squared_error``. NaN marks an unobserved label of any type.""",
    "regression_loss": """\
regression_loss : {"mse", "huber"}, default="mse"
    Loss of the regression tasks, on standardized targets (Huber with
    delta 1, i.e. one standard deviation).""",
    "early_stopping": """\
early_stopping : "auto" or bool, default="auto"
    Hold out ``validation_fraction`` of the data and stop when
    ``early_stopping_monitor`` has not improved for ``n_iter_no_change``
    epochs, restoring the best epoch's weights. ``"auto"`` enables it
    above 10,000 samples. With ``"auto"``, cross-validation folds at
    or below that size and a refit above it train differently (as in scikit-learn's
    HistGradientBoosting): fix it to True or False for model selection.""",
    "early_stopping_monitor": """\
early_stopping_monitor : str, default="valid_roc_auc"
    History key watched by early stopping: ``"valid_roc_auc"`` (mean
    over tasks), ``"valid_loss"``, ``"valid_<metric>_<task>"``, or a bare
    task name (that task's validation ROC AUC).""",
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Share of the training data held out for early stopping.""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=5
    Patience of early stopping, in epochs.""",
    "callbacks": """\
callbacks : list of skorch callbacks, default=None
    Extra skorch callbacks (instances or ``(name, callback)`` pairs),
    e.g. ``LRScheduler``, ``ProgressBar`` or
    ``Checkpoint(monitor="valid_roc_auc_best")``: with early stopping
    each epoch records ``<early_stopping_monitor>_best``. skorch's
    ``EpochScoring``, ``BatchScoring`` and ``EarlyStopping`` are refused
    with the alternative: the validation scores are in ``history_``.""",
    "device": """\
device : str, default="cpu"
    Torch device, e.g. ``"cuda"``.""",
    "n_threads": """\
n_threads : "auto", int or None, default="auto"
    Torch's intra-op CPU threads while this estimator fits or predicts (set
    with :func:`torch.set_num_threads` and restored afterwards). ``"auto"``
    is one thread: these networks' matrix products are too small to gain
    much from more, and several threads that spin-wait for each other
    collapse whenever another process is busy (on a shared 2-core machine,
    1 thread trained 2.7x faster than 2; see the user guide), and a search
    with ``n_jobs`` then runs one thread per job. An int sets that many;
    None leaves torch's setting as it is.""",
    "dtype": """\
dtype : {"float32", "float64"}, default="float32"
    Floating-point precision of the network, its inputs and its loss.
    ``"float64"`` is slower; it makes results reproducible to rounding
    (e.g. weighting a row by 2 equals repeating it).""",
    "precision": """\
precision : {"bf16"} or None, default=None
    Mixed precision of the training steps: ``"bf16"`` runs them under
    :func:`torch.autocast` with bfloat16, which speeds up the matrix
    products on GPUs that have bfloat16 units (and on some CPUs) at a
    small cost in accuracy; the weights, the loss, validation and
    predictions stay in ``dtype``. Needs ``dtype="float32"``. A training
    parameter: ``warm_start`` and ``partial_fit`` use its current value.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds initialisation, shuffling, dropout and the validation split,
    without changing torch's global random state.""",
    "verbose": """\
verbose : int, default=0
    ``1`` prints one table row per epoch; ``2`` adds a progress line
    within each epoch, at most every 5 seconds (redrawn in place on a
    terminal, plain lines elsewhere).""",
    "warm_start": """\
warm_start : bool, default=False
    Continue from the fitted weights and optimizer state on the next
    ``fit``. The training parameters ({training_params}) take their
    current values; a change of any other parameter (e.g.
    ``embedding_dim``) is a ValueError.""",
    "pos_weight": """\
pos_weight : float, "balanced", dict or None, default=None
    Weight of the positive labels in a binary task's cross-entropy
    (``pos_weight`` of :func:`torch.nn.functional.binary_cross_entropy_with_logits`),
    for rare events such as conversions: a float weighs every binary
    task's positives alike, a dict ``{task name: weight}`` only those tasks
    (the others 1). A weight is a positive float or ``"balanced"``: the
    task's negatives over its positives among the labelled training rows,
    counted with ``sample_weight`` and fixed at the first fit (on the first
    batch for ``partial_fit``; over every chunk for ``ChunkedData``). It
    multiplies the positives' losses on top of ``sample_weight``. A funnel
    model's step ``t`` is the end-to-end event (steps ``0..t`` reached), so
    weighting the conversion weighs pCTCVR's positives, the clicked and
    converted rows.""",
}

ATTRIBUTE_DOCS = {
    "classes_": """\
classes_ : list of (ndarray of shape (n_classes,) or None)
    The classes of each task (two for a binary task), None for a
    regression task (the entry itself for a single task).""",
    "task_types_": """\
task_types_ : list of str
    The type of each task.""",
    "task_names_": """\
task_names_ : ndarray of str
    Task names: ``Y``'s columns, or ``task_0``, ``task_1``, ...""",
    "n_tasks_": """\
n_tasks_ : int
    Number of tasks.""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during fit.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of str
    Names of the features seen during fit (DataFrame input only).""",
    "is_categorical_": """\
is_categorical_ : ndarray of bool
    Which features were treated as categorical.""",
    "embedding_init_std_": """\
embedding_init_std_ : float or None
    The standard deviation the embedding table started from (None:
    torch's N(0, 1)), ``embedding_init_std`` with ``"auto"`` resolved.""",
    "history_": """\
history_ : skorch.History
    Per-epoch record: the training loss and each task's, and with a
    validation set each task's validation loss and scores
    (``valid_<metric>_<task>``) and their means over the tasks
    (``valid_<metric>``).""",
    "n_iter_": """\
n_iter_ : int
    Number of epochs trained.""",
    "net_": """\
net_ : skorch.NeuralNet
    The private skorch net that trained the module.""",
}


def model_params(cls):
    """``cls``'s parameters and defaults in signature order: its own (its
    parents' first), then the shared ones."""
    own = {}
    for klass in reversed(cls.__mro__):
        own.update(vars(klass).get("_own_params", {}))
    shared = {}
    for name, default in SHARED_PARAMS.items():
        shared[name] = default
        if name == "loss_weighting" and getattr(cls, "_mixes_task_types", False):
            shared.update(TASK_TYPE_PARAMS)
    return {**own, **shared}


def make_init(cls):
    """An ``__init__`` with an explicit keyword-only signature of
    :func:`model_params`, storing each parameter unchanged (as scikit-learn
    requires), so that ``get_params``, ``clone`` and ``help`` see every one."""
    params = model_params(cls)
    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, keyword, default=default) for name, default in params.items()]
    )

    def __init__(self, **kwargs):
        arguments = signature.bind(self, **kwargs)
        arguments.apply_defaults()
        for name, value in list(arguments.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    return __init__


_X = """\
X : {array-like, DataFrame} of shape (n_samples, n_features)
    Features."""

_MODULE_INPUTS = """\
categorical : torch.Tensor of shape (n, n_categorical)
    Category codes (int64).
numeric : torch.Tensor of shape (n, n_numeric)
    Standardized numeric features."""

#: Docstring fragments: a line holding only ``{name}`` becomes the fragment,
#: indented like that line (see :func:`fill_doc`). ``{X_returns}`` is the
#: Parameters section of a method of ``X`` alone, followed by the Returns
#: heading; ``{module_inputs_returns}`` the same for a torch module's
#: ``(categorical, numeric)``.
DOC_FRAGMENTS = {
    "X": _X,
    "X_returns": f"Parameters\n----------\n{_X}\n\nReturns\n-------",
    "module_inputs": _MODULE_INPUTS,
    "module_inputs_returns": f"Parameters\n----------\n{_MODULE_INPUTS}\n\nReturns\n-------",
    "output_widths": """\
output_widths : sequence of int, default=None
    Each task's number of outputs (``K`` logits for a multiclass task);
    one each when None.""",
    "sample_weight_returns_self": """\
sample_weight : array-like of shape (n_samples,), default=None
    Row weights.

Returns
-------
self : object
    The fitted estimator.""",
    # The gated estimators' parameters that read the same in each model.
    "gated_layers": """\
expert_hidden_units : tuple of int, default=(32,)
    Hidden layer widths of each expert; the last is the expert output.
tower_hidden_units : tuple of int, default=(16,)
    Hidden layer widths of each task tower (before its output).""",
    "gate_balance_weight_levels": """\
gate_balance_weight : float, default=0.0
    Weight of a load-balancing penalty against expert collapse: the
    squared coefficient of variation of each gate's per-batch importance
    over the experts it weighs (Shazeer et al., ICLR 2017), averaged over
    every gate of every level and added to the training loss. 0 (the
    paper's model) switches it off.""",
    "gate_dropout": """\
gate_dropout : float, default=0.0
    Gate dropout, a remedy for expert collapse beside
    ``gate_balance_weight``: in training, every gate drops each expert
    from its mixture of a row with this probability and spreads the weight
    over the experts it kept, so that no task leans on one expert alone
    and every expert keeps getting gradient. Prediction uses the full
    softmax. 0 switches it off. See ``benchmarks/results_expert_health.txt``
    for its effect on expert health and AUC.""",
    # The data of the estimators' examples: 2,000 rows of the bundled census sample.
    "census_example_data": """\
>>> from sklearn_mtl.datasets import load_census_income
>>> X, Y = load_census_income(return_X_y=True)
>>> X, Y = X[:2000], Y[:2000]""",
    # The data of the examples that fit a model in a Pipeline.
    "pipeline_example_data": """\
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from sklearn_mtl.datasets import make_funnel
>>> X, Y = make_funnel(600, n_categorical=0, random_state=0, return_X_y=True)""",
    # The inputs of the torch modules' examples: one category, three numbers.
    "module_example_inputs": """\
>>> import torch
>>> from sklearn_mtl.nn import MixedInputEmbedding
>>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)""",
    # The first parameters of the torch modules of one gated level.
    "level_inputs": """\
in_features : int
    Input width.
n_tasks : int
    Number of tasks.""",
    # The parameters of the DCN-v2 cross networks.
    "cross_layers": """\
in_features : int
    Width of the input, e.g. an embedding's ``out_features``.
num_layers : int, default=2
    Number of cross layers.""",
    # The folder of the examples that read data files.
    "temp_folder_example": """\
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())""",
    # The labels and weights a score is computed on.
    "y_sample_weight": """\
y : array-like of shape (n_samples, n_tasks)
    True labels; NaN marks an unobserved label.
sample_weight : array-like of shape (n_samples,), default=None
    Row weights.""",
    # The parameters of the calibration metrics of one binary task.
    "y_true_prob": """\
y_true : array-like of shape (n_samples,)
    0/1 labels, NaN where unobserved.
y_prob : array-like of shape (n_samples,)
    Predicted probability of the positive class, in [0, 1].""",
    "sample_weight_returns_float": """\
sample_weight : array-like of shape (n_samples,), default=None
    Row weights.

Returns
-------
float""",
    # The parameters of the MMoE and PLE networks after their expert counts.
    "gated_module_params": """\
expert_hidden_units, tower_hidden_units, gate_hidden_units : tuple of int
    Layer widths; ``gate_hidden_units=()`` is the paper's linear gate.
dropout : float
    Dropout after expert and tower hidden layers.
output_widths : sequence of int, default=None
    Each task's number of outputs (``K`` logits for a multiclass task);
    one each when None.
balance_gates : bool, default=False
    Keep every gate's weights of each training pass for
    :meth:`gate_balance_loss`, the load-balancing penalty.
batch_norm : bool, default=False
    BatchNorm in the hidden layers of the experts and towers (never in
    the gates).
gate_bias : bool, default=False
    Whether each gate's linear map has a bias (the paper's has none).""",
}


def _fill(doc, fragments):
    if not doc:
        return doc
    lines = []
    for line in doc.split("\n"):
        name = line.strip()[1:-1] if line.strip().startswith("{") else None
        if name in fragments:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(f"{indent}{part}" if part else "" for part in fragments[name].split("\n"))
        else:
            lines.append(line)
    return "\n".join(lines)


def fill_doc(obj, fragments=None):
    """Fill the :data:`DOC_FRAGMENTS` (and ``fragments``) into ``obj``'s
    docstring and, for a class, into its own methods' docstrings. Returns ``obj``."""
    fragments = {**DOC_FRAGMENTS, **(fragments or {})}
    obj.__doc__ = _fill(obj.__doc__, fragments)
    if isinstance(obj, type):
        for member in vars(obj).values():
            if inspect.isfunction(member):
                member.__doc__ = _fill(member.__doc__, fragments)
    return obj


def _entries(docs, names, notes, layers):
    """numpydoc entries of ``names``, each description with its model's note
    and rewrapped, since inserted names and notes leave lines of any length."""
    training_params = ", ".join(f"``{name}``" for name in TRAINING_PARAMS)
    lines = []
    for name in names:
        text = docs[name].replace("{layers}", layers).replace("{training_params}", training_params)
        head, *description = text.split("\n")
        words = " ".join([*(line.strip() for line in description), notes.get(name, "")])
        lines.append(head)
        lines.extend(f"    {line}" for line in textwrap.wrap(words, 71, break_on_hyphens=False))
    return "\n".join(lines)


def doc_section(obj, title):
    """The body of the numpydoc section ``title`` of ``obj``'s docstring, dedented
    (e.g. a network's References, for the estimator built on it)."""
    doc = inspect.cleandoc(obj.__doc__)
    start = doc.index(f"{title}\n{'-' * len(title)}\n") + 2 * len(title) + 2
    end = doc.find("\n\n", start)
    return doc[start:] if end < 0 else doc[start:end]


def compose_docstring(cls):
    """Fill ``cls``'s docstring: ``{shared}`` becomes its shared parameters'
    entries followed by the Attributes section; then :func:`fill_doc`."""
    own = set()
    for klass in cls.__mro__:
        own.update(vars(klass).get("_own_params", {}))
    shared = [name for name in model_params(cls) if name not in own]
    layers = getattr(cls, "_doc_layers", "network")
    attributes = [
        name
        for name in ATTRIBUTE_DOCS
        if name != "task_types_" or getattr(cls, "_mixes_task_types", False)
    ]
    composed = "\n".join(
        [
            _entries(PARAMETER_DOCS, shared, getattr(cls, "_parameter_notes", {}), layers),
            "",
            "Attributes",
            "----------",
            _entries(ATTRIBUTE_DOCS, attributes, getattr(cls, "_attribute_notes", {}), layers),
        ]
    )
    return fill_doc(cls, {**getattr(cls, "_doc_fragments", {}), "shared": composed})
