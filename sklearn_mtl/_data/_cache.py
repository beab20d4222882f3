"""Encoded chunks kept on disk for the epochs of an out-of-core fit, and the
background thread that reads them ahead of training.

The encoding pass writes each chunk's host arrays (category codes, bags,
numbers, labels, weights) as ``.npy`` files; every epoch then reads them
memory-mapped instead of reading and encoding the source again. A cache is
written into a temporary folder beside its final place and renamed once
complete, so that no reader ever sees half of one, and it is named by a
fingerprint of its source and of the fitted encoding, so that a changed
source or encoder never reuses a stale one.
"""

import errno
import hashlib
import json
import os
import pickle
import queue
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from ..nn import CategoricalInputs
from ._tensors import TensorData

#: Changes whenever the layout of a cache changes, so that no older one is read.
CACHE_FORMAT = 1

#: The arrays of a chunk, in :class:`CategoricalInputs` order for the bags.
_BAG_ARRAYS = ("codes", "items", "starts", "lengths", "item_weights")


def fingerprint(*parts):
    """A hex digest of ``parts`` (the source's identity, the fitted encoder
    and tasks, settings): equal only for the same encoded data."""
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for part in parts:
        digest.update(pickle.dumps(part, protocol=4))
    return digest.hexdigest()


def _arrays(data):
    """The host arrays of one chunk's :class:`TensorData`, by file name."""
    categorical = data.inputs["categorical"]
    if isinstance(categorical, CategoricalInputs):
        arrays = dict(zip(_BAG_ARRAYS, categorical._tensors()))
    else:
        arrays = {"codes": categorical}
    arrays.update(
        numeric=data.inputs["numeric"], targets=data.targets, sample_weight=data.sample_weight
    )
    return {name: t.numpy() for name, t in arrays.items() if t is not None}


class ChunkCache:
    """The encoded chunks of one fit in ``folder``, one ``.npy`` file per array.

    Parameters
    ----------
    folder : Path
        A complete cache, as :meth:`write` leaves it.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.n_rows = meta["n_rows"]
        self.names = meta["arrays"]

    @property
    def n_chunks(self):
        return len(self.n_rows)

    @classmethod
    def open_or_write(cls, cache_dir, key, chunks):
        """The cache named ``key`` in ``cache_dir``, written from ``chunks``
        (an iterable of :class:`TensorData`, read only when no complete cache
        of that name exists).

        Raises a ValueError naming ``cache_dir`` when it cannot be written
        (not a directory, not writable, full), leaving no partial cache.
        """
        cache_dir = Path(cache_dir)
        final = cache_dir / f"chunks-{key[:32]}"
        if (final / "meta.json").is_file():
            return cls(final)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
        except OSError as exc:
            raise _cache_error(cache_dir, exc) from exc
        try:
            n_rows, names = [], None
            for k, data in enumerate(chunks):
                arrays = _arrays(data)
                names = names or sorted(arrays)
                for name, array in arrays.items():
                    with open(partial / f"{k:06d}.{name}.npy", "wb") as file:
                        np.save(file, array)
                n_rows.append(len(data))
            meta = {"format": CACHE_FORMAT, "key": key, "n_rows": n_rows, "arrays": names}
            (partial / "meta.json").write_text(json.dumps(meta))
            try:
                os.replace(partial, final)
            except OSError:
                # Another process (a data-parallel fit) renamed the same cache first.
                if not (final / "meta.json").is_file():
                    raise
                shutil.rmtree(partial)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise _cache_error(cache_dir, exc) from exc
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return cls(final)

    def read(self, k, rows=None):
        """Chunk ``k`` as a :class:`TensorData` in memory; with ``rows``
        (an int64 tensor of positions), only those rows."""
        arrays = {
            name: torch.from_numpy(
                np.array(np.load(self.folder / f"{k:06d}.{name}.npy", mmap_mode="r"))
            )
            for name in self.names
        }
        if "items" in arrays:
            categorical = CategoricalInputs(*(arrays.get(name) for name in _BAG_ARRAYS))
        else:
            categorical = arrays["codes"]
        data = TensorData(
            {"categorical": categorical, "numeric": arrays["numeric"]},
            arrays["targets"],
            arrays.get("sample_weight"),
        )
        return data if rows is None else data.take(rows)


def _cache_error(cache_dir, exc):
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    return ValueError(
        f"ChunkedData could not write its cache of encoded chunks in {cache_dir}: "
        f"{exc.strerror or exc}. "
        + (
            "The disk is full: free space there, or "
            if full
            else "Make the directory writable, or "
        )
        + "pass cache_dir= a directory with room for the encoded rows (about the size of "
        "the data as int32 codes and float32 numbers)."
    )


_END = object()


def read_ahead(load, items, depth=1):
    """Yield ``load(item)`` for each of ``items``, loading up to ``depth``
    items ahead in a background thread, so that reading overlaps the work
    done on each.

    An exception in the thread is raised here, in the caller's thread, as
    it was raised there. Closing the generator (an error or interrupt in the
    caller, or a caller that stops early) stops the thread before returning.
    """
    results = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value):
        while not stop.is_set():
            try:
                results.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if not put((load(item), None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            put((None, exc))
        else:
            put((_END, None))

    thread = threading.Thread(target=work, name="sklearn_mtl-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            value, error = results.get()
            if error is not None:
                raise error
            if value is _END:
                return
            yield value
    finally:
        stop.set()
        thread.join()
