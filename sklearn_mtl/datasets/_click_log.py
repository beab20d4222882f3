"""A click-log generator at recommendation scale, with known true probabilities."""

import inspect
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import (
    Interval,
    validate_parameter_constraints,
    validate_params,
)

#: Rows drawn from one seed. Fixed whatever the file size, so that a log written
#: as Parquet parts holds exactly the rows ``make_click_log`` returns.
_BLOCK_ROWS = 1 << 17

_START = np.datetime64("2024-01-01T00:00:00", "s")
_SECONDS_PER_DAY = 86_400
#: Amplitude of the weekly cycle of the click logit.
_WEEKLY = 0.3

_CONSTRAINTS = {
    "n_users": [Interval(Integral, 1, None, closed="left")],
    "n_items": [Interval(Integral, 1, None, closed="left")],
    "user_zipf": [Interval(Real, 0, None, closed="left")],
    "item_zipf": [Interval(Real, 0, None, closed="left")],
    "n_categories": ["array-like"],
    "n_numeric": [Interval(Integral, 0, None, closed="left")],
    "n_tags": [Interval(Integral, 1, None, closed="left")],
    "max_tags": [Interval(Integral, 0, None, closed="left")],
    "tag_zipf": [Interval(Real, 0, None, closed="left")],
    "n_days": [Interval(Integral, 1, None, closed="left")],
    "base_rates": ["array-like"],
    "selection_bias": [Interval(Real, 0, 1, closed="both")],
    "confounding": [Interval(Real, 0, None, closed="left")],
    "signal": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}

_TARGETS = ["click", "conversion"]


def _zipf_cdf(n, exponent):
    """Cumulative probabilities of ranks ``1..n`` with ``P(k) ~ k ** -exponent``."""
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -exponent)
    return cdf / cdf[-1]


def _draw_ranks(rng, cdf, size):
    # Inverse-CDF sampling: exact for the finite vocabulary, one binary search a draw.
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _effects(rng, weights, scale):
    """The two scores' effects of one feature's values, shape ``(2, len(weights))``.

    Under the values' frequencies ``weights`` each row has mean 0 and standard
    deviation ``scale`` and the two rows are uncorrelated, exactly rather than
    in expectation over the draw: with Zipf IDs a few heavy values would
    otherwise correlate the scores by chance, and ``selection_bias=0`` would
    still bias the clicked rows.
    """
    effects = rng.standard_normal((2, len(weights)))
    effects -= effects @ weights[:, None]
    first = effects[0]
    norm = first**2 @ weights
    if norm > 1e-12:
        effects[1] -= (effects[1] * first @ weights) / norm * first
    std = np.sqrt(effects**2 @ weights)[:, None]
    # A single value leaves nothing to vary: no effect.
    return np.divide(scale * effects, std, out=np.zeros_like(effects), where=std > 1e-12)


def _labels(k):
    # Strings: Parquet gives string dictionaries back as pandas categories, integer ones
    # as plain integers.
    return [str(c) for c in range(k)]


class _ClickLog:
    """The log's fixed parameters (effects of every ID, category and tag on the
    two scores), drawn once, and its rows, drawn block by block."""

    def __init__(
        self, n_samples, *, n_users, n_items, user_zipf, item_zipf, n_categories, n_numeric,
        n_tags, max_tags, tag_zipf, n_days, base_rates, selection_bias, confounding, signal,
        random_state,
    ):
        counts = np.asarray(n_categories)
        if counts.ndim != 1 or counts.size and not (
            np.issubdtype(counts.dtype, np.integer) and (counts >= 1).all()
        ):
            raise ValueError(
                "n_categories must be a list of positive integers, the number of categories "
                f"of each small categorical column; got {n_categories!r}."
            )
        self.n_categories = counts.astype(np.int64)
        rates = np.asarray(base_rates, dtype=np.float64)
        if rates.shape != (2,) or not ((rates > 0) & (rates < 1)).all():
            raise ValueError(
                "base_rates must hold 2 probabilities in (0, 1): the click rate and the "
                f"conversion rate given a click, at a score of 0; got {base_rates!r}."
            )
        self.n_samples = n_samples
        self.n_numeric = n_numeric
        self.max_tags = max_tags
        self.n_days = n_days
        self.base_logits = logit(rates)
        self.selection_bias = selection_bias
        self.confounding = confounding
        rng = check_random_state(random_state)
        self.seed = int(rng.randint(np.iinfo(np.int32).max))
        self.cdfs = {
            "user_id": _zipf_cdf(n_users, user_zipf),
            "item_id": _zipf_cdf(n_items, item_zipf),
            "tags": _zipf_cdf(n_tags, tag_zipf),
        }
        # Five parts (users, items, small categories, tags, numerics) share the signal.
        scale = signal / np.sqrt(5.0)
        self.effects = {
            name: _effects(rng, np.diff(cdf, prepend=0.0), scale)
            for name, cdf in self.cdfs.items()
        }
        per_column = scale / np.sqrt(max(len(self.n_categories), 1))
        self.category_effects = [
            _effects(rng, np.full(k, 1.0 / k), per_column) for k in self.n_categories
        ]
        # Numerics are independent standard normal: a coefficient's square is its variance.
        self.coefficients = _effects(rng, np.full(n_numeric, 1.0), scale)
        self.categorical_names = [f"cat_{j}" for j in range(len(self.n_categories))]
        self.numeric_names = [f"num_{j}" for j in range(n_numeric)]
        self.feature_names = [
            "user_id", "item_id", *self.categorical_names, *self.numeric_names, "tags", "timestamp",
        ]

    def blocks(self, start=0, stop=None):
        """Raw arrays of the rows of each block from ``start`` to ``stop``."""
        stop = self.n_samples if stop is None else stop
        for first in range(start, stop, _BLOCK_ROWS):
            yield self._block(first, min(first + _BLOCK_ROWS, stop))

    def _block(self, first, last):
        rng = np.random.default_rng([self.seed, first // _BLOCK_ROWS])
        n = last - first
        users = _draw_ranks(rng, self.cdfs["user_id"], n)
        items = _draw_ranks(rng, self.cdfs["item_id"], n)
        categories = [rng.integers(k, size=n) for k in self.n_categories]
        numeric = rng.standard_normal((n, self.n_numeric))
        lengths = rng.integers(self.max_tags + 1, size=n)
        tags = _draw_ranks(rng, self.cdfs["tags"], int(lengths.sum()))
        hidden = rng.standard_normal(n)
        # Row i falls in [i, i + 1) / n of the period: timestamps rise with the row.
        position = (np.arange(first, last) + rng.random(n)) / self.n_samples
        seconds = np.floor(position * self.n_days * _SECONDS_PER_DAY).astype(np.int64)
        draws = rng.random((n, 2))

        scores = self.effects["user_id"][:, users] + self.effects["item_id"][:, items]
        for effects, codes in zip(self.category_effects, categories):
            scores += effects[:, codes]
        scores += self.coefficients @ numeric.T
        row_of_tag = np.repeat(np.arange(n), lengths)
        for s in range(2):
            tag_sum = np.bincount(row_of_tag, self.effects["tags"][s, tags], minlength=n)
            scores[s] += tag_sum / np.maximum(lengths, 1)
        scores[0] += _WEEKLY * np.sin(2 * np.pi * seconds / (7 * _SECONDS_PER_DAY))
        rho = self.selection_bias
        logits = np.empty((n, 2))
        logits[:, 0] = self.base_logits[0] + scores[0]
        logits[:, 1] = self.base_logits[1] + np.sqrt(1.0 - rho**2) * scores[1] + rho * scores[0]
        logits += self.confounding * hidden[:, None]
        true_proba = expit(logits)
        labels = np.logical_and.accumulate(draws < true_proba, axis=1).astype(np.int64)
        return {
            "user_id": users.astype(np.int64),
            "item_id": items.astype(np.int64),
            "categories": categories,
            "numeric": numeric,
            "tags": tags.astype(np.int64),
            "tag_offsets": np.concatenate([[0], np.cumsum(lengths)]),
            "timestamp": _START + seconds.astype("timedelta64[s]"),
            "labels": labels,
            "true_proba": true_proba,
            "confounder": hidden,
        }

    def frame(self, block):
        """The block's features as a DataFrame: tags as lists in an object column."""
        flat = block["tags"].tolist()
        offsets = block["tag_offsets"].tolist()
        tags = np.empty(len(offsets) - 1, dtype=object)
        tags[:] = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        columns = {"user_id": block["user_id"], "item_id": block["item_id"]}
        for name, k, codes in zip(self.categorical_names, self.n_categories, block["categories"]):
            columns[name] = pd.Categorical.from_codes(codes, categories=_labels(k))
        for j, name in enumerate(self.numeric_names):
            columns[name] = block["numeric"][:, j]
        columns["tags"] = tags
        columns["timestamp"] = block["timestamp"]
        return pd.DataFrame(columns)

    def arrow_table(self, block):
        """The block's features and labels as a pyarrow Table, built from the
        arrays (no Python object per row)."""
        import pyarrow as pa

        columns = {"user_id": block["user_id"], "item_id": block["item_id"]}
        for name, k, codes in zip(self.categorical_names, self.n_categories, block["categories"]):
            columns[name] = pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32()), pa.array(_labels(k))
            )
        for j, name in enumerate(self.numeric_names):
            columns[name] = block["numeric"][:, j]
        columns["tags"] = pa.LargeListArray.from_arrays(block["tag_offsets"], block["tags"])
        columns["timestamp"] = block["timestamp"]
        for s, name in enumerate(_TARGETS):
            columns[name] = block["labels"][:, s]
        return pa.table(columns)

    @staticmethod
    def truth_table(block):
        import pyarrow as pa

        proba = block["true_proba"]
        return pa.table(
            {"pctr": proba[:, 0], "pcvr": proba[:, 1], "confounder": block["confounder"]}
        )


@validate_params(
    {"n_samples": [Interval(Integral, 1, None, closed="left")], **_CONSTRAINTS,
     "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_click_log(
    n_samples=100_000,
    *,
    n_users=1_000_000,
    n_items=1_000_000,
    user_zipf=1.05,
    item_zipf=1.1,
    n_categories=(4, 12, 50),
    n_numeric=3,
    n_tags=1000,
    max_tags=5,
    tag_zipf=1.0,
    n_days=30,
    base_rates=(0.05, 0.1),
    selection_bias=0.5,
    confounding=0.0,
    signal=2.0,
    random_state=None,
    return_X_y=False,
):
    """Generate a click log of impressions with known true pCTR and pCVR.

    Each impression (row) has a user and an item, Zipf-distributed over
    vocabularies of millions (ID ``k`` is the ``k + 1``-th most frequent:
    ``P(k) ~ (k + 1) ** -zipf``), a few small categorical columns, standard
    normal numeric columns, a list of 0 to ``max_tags`` tags (Zipf over
    ``n_tags``, repeats possible) and a timestamp; rows are in time order
    over ``n_days`` days.

    Two scores are sums of random effects of the user, the item, each
    category, the mean of the row's tags and the numerics (five parts of
    equal variance, ``signal ** 2`` in all); the click's also has a weekly
    cycle. As in :func:`make_funnel`, ``pCTR = sigmoid(logit(base_rates[0])
    + f_0)`` and ``pCVR = P(conversion | click) = sigmoid(logit(base_rates[1])
    + sqrt(1 - rho**2) f_1 + rho f_0)`` with ``rho = selection_bias``:
    clicks concentrate where conversion is likely, so a CVR model trained
    on clicked rows alone sees a biased sample. A conversion happens only
    after a click.

    With ``confounding > 0`` a hidden standard normal variable ``u`` (not
    in ``X``) adds ``confounding * u`` to both logits: selection on
    something no feature shows. The true probabilities are then conditional
    on ``u`` as well, beyond what any model of ``X`` can reach.

    Parameters
    ----------
    n_samples : int, default=100_000
        Number of impressions.
    n_users, n_items : int, default=1_000_000
        Vocabulary sizes of ``user_id`` and ``item_id``.
    user_zipf, item_zipf : float, default=1.05, 1.1
        Zipf exponents of the ID frequencies (0 is uniform).
    n_categories : array-like of int, default=(4, 12, 50)
        Number of categories (equally likely) of each small categorical
        column ``cat_<j>``.
    n_numeric : int, default=3
        Number of numeric columns ``num_<j>``.
    n_tags : int, default=1000
        Number of distinct tags.
    max_tags : int, default=5
        Most tags per row; each row has 0 to ``max_tags`` of them, equally
        likely.
    tag_zipf : float, default=1.0
        Zipf exponent of the tag frequencies.
    n_days : int, default=30
        Days the log spans, from 2024-01-01.
    base_rates : array-like of shape (2,), default=(0.05, 0.1)
        Click rate and conversion rate given a click at a score of 0 (about
        their medians over the impressions).
    selection_bias : float in [0, 1], default=0.5
        Correlation of the click's and the conversion's feature logits.
    confounding : float, default=0.0
        Weight of the hidden confounder in both logits.
    signal : float, default=2.0
        Standard deviation of each score: how predictable the steps are.
    random_state : int, RandomState instance or None, default=None
        Seeds the effect tables, and the rows block by block (each block of
        131,072 rows from its own seed derived from it).
    return_X_y : bool, default=False
        Return ``(X, Y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data``: DataFrame with columns ``user_id``, ``item_id`` (int64;
        declare them in ``categorical_features`` and hash them with
        ``hash_buckets``), ``cat_<j>`` (pandas ``category`` of
        labels ``"0"``, ``"1"``, ...), ``num_<j>``,
        ``tags`` (lists of int tags, object dtype) and ``timestamp``
        (``datetime64[s]``); ``target``: DataFrame of 0/1 labels ``click``
        and ``conversion``; ``true_proba``: DataFrame, same columns, the true
        pCTR and pCVR of every row (the conversion's given a click, whether
        or not the row was clicked); ``confounder``: the hidden variable
        (ndarray); ``feature_names``, ``target_names``,
        ``categorical_features``.
    (X, Y) : tuple of DataFrame
        With ``return_X_y=True``.

    See Also
    --------
    write_click_log : The same rows written as Parquet parts, for logs too
        large for memory.
    make_funnel : A small funnel of any number of steps.

    Examples
    --------
    >>> from sklearn_mtl.datasets import make_click_log
    >>> log = make_click_log(1000, random_state=0)
    >>> list(log.data.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['user_id', 'item_id', 'cat_0', 'cat_1', 'cat_2', 'num_0', 'num_1', 'num_2',
     'tags', 'timestamp']
    >>> bool((log.target["conversion"] <= log.target["click"]).all())
    True
    >>> bool(log.data["timestamp"].is_monotonic_increasing)
    True
    >>> log.true_proba.shape
    (1000, 2)
    """
    params = {k: v for k, v in locals().items() if k in _CONSTRAINTS}
    log = _ClickLog(n_samples, **params)
    blocks = list(log.blocks())
    X = pd.concat([log.frame(b) for b in blocks], ignore_index=True)
    Y = pd.DataFrame(np.concatenate([b["labels"] for b in blocks]), columns=_TARGETS)
    if return_X_y:
        return X, Y
    return Bunch(
        data=X,
        target=Y,
        true_proba=pd.DataFrame(
            np.concatenate([b["true_proba"] for b in blocks]), columns=_TARGETS
        ),
        confounder=np.concatenate([b["confounder"] for b in blocks]),
        feature_names=log.feature_names,
        target_names=list(_TARGETS),
        categorical_features=["user_id", "item_id", *log.categorical_names, "tags"],
    )


@validate_params(
    {
        "folder": [str, os.PathLike],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "rows_per_file": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def write_click_log(folder, n_samples, *, rows_per_file=1_000_000, **params):
    """Write :func:`make_click_log`'s rows as Parquet files, block by block.

    Memory stays bounded by a block of 131,072 rows (plus the effect
    tables of the vocabularies) whatever ``n_samples``: the log is drawn
    and written one block at a time. The files hold the features and the
    labels, in the rows and values that ``make_click_log`` with the same
    parameters returns, and can be read back with
    ``ChunkedData(folder, target_columns=["click", "conversion"])``; the
    true probabilities go to matching files in ``folder/truth`` (columns
    ``pctr``, ``pcvr``, ``confounder``), which ``ChunkedData`` does not
    read. Requires pyarrow (``pip install pyarrow``, or the ``parquet`` extra).

    Parameters
    ----------
    folder : str or path-like
        Folder to write into (created if missing). It must not hold
        Parquet files already.
    n_samples : int
        Number of impressions.
    rows_per_file : int, default=1_000_000
        Rows of each file ``part-<k>.parquet`` (the last may hold fewer).
    **params
        Keyword arguments of :func:`make_click_log` (``random_state``,
        vocabulary sizes, ...), except ``return_X_y``.

    Returns
    -------
    paths : list of pathlib.Path
        The feature files, in row order.

    See Also
    --------
    make_click_log : The same rows in memory, with their true probabilities.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_mtl import ChunkedData
    >>> from sklearn_mtl.datasets import write_click_log
    >>> folder = tempfile.mkdtemp()
    >>> paths = write_click_log(folder, 2500, rows_per_file=1000, random_state=0)
    >>> [p.name for p in paths]
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    >>> chunks = ChunkedData(folder, target_columns=["click", "conversion"], chunk_rows=1000)
    >>> [len(X) for X, Y, _ in chunks]
    [1000, 1000, 500]
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            "write_click_log needs pyarrow: pip install pyarrow, or install sklearn_mtl "
            "with its parquet extra (in its source checkout: pip install -e '.[parquet]')."
        ) from exc
    unknown = sorted(set(params) - set(_CONSTRAINTS))
    if unknown:
        raise TypeError(
            f"write_click_log got unknown parameter(s) {unknown}; it takes the keyword "
            f"arguments of make_click_log except return_X_y: {sorted(_CONSTRAINTS)}."
        )
    defaults = {
        name: p.default
        for name, p in inspect.signature(make_click_log).parameters.items()
        if name in _CONSTRAINTS
    }
    params = {**defaults, **params}
    validate_parameter_constraints(_CONSTRAINTS, params, caller_name="write_click_log")
    folder = Path(folder)
    if folder.is_dir() and any(folder.glob("*.parquet")):
        raise ValueError(
            f"write_click_log: {folder} already holds Parquet files; ChunkedData would read "
            "them with the new ones. Write into an empty or new folder."
        )
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    log = _ClickLog(n_samples, **params)
    paths, writers, room = [], None, 0
    # One pass over the blocks; a file may start or end inside a block.
    for block in log.blocks():
        tables = log.arrow_table(block), log.truth_table(block)
        done = 0
        while done < len(tables[0]):
            if not room:
                paths.append(folder / f"part-{len(paths):05d}.parquet")
                targets = paths[-1], folder / "truth" / paths[-1].name
                writers = [pq.ParquetWriter(path, t.schema) for path, t in zip(targets, tables)]
                room = rows_per_file
            take = min(room, len(tables[0]) - done)
            for writer, table in zip(writers, tables):
                writer.write_table(table.slice(done, take))
            done += take
            room -= take
            if not room:
                for writer in writers:
                    writer.close()
    if room:  # the last file, not full
        for writer in writers:
            writer.close()
    return paths
