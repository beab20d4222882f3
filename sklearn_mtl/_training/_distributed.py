"""Data-parallel training across processes started by ``torchrun``.

When ``fit`` runs inside an initialized :mod:`torch.distributed` process
group of more than one process, every process passes the same data; each
trains on its share of the rows (a new shared permutation per epoch, cut
into equal shares so that every process runs the same number of steps and
no collective waits forever), gradients are averaged across processes, and
every process validates on the whole validation set, so that all of them
record the same history and early stopping decides the same everywhere.
A :class:`~sklearn_mtl.ChunkedData` of Parquet files is shared out before
it is read: each process reads only its row groups, the processes merge
what they learnt of the data into one encoding, train the same number of
steps each epoch, and score the validation rows of all of them together.
Each process ends with an ordinary fitted estimator.
"""

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..loss_weighting import LossWeighting


def data_parallel(device):
    """The running process group as a :class:`DataParallel`, or None.

    None outside a process group and in a group of one process, where
    training is the ordinary single-process one.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return DataParallel(device)


class DataParallel:
    """What one process of a data-parallel fit needs: its rank, its device,
    its share of the rows and the collectives.

    Parameters
    ----------
    device : str
        The estimator's checked device; a bare ``"cuda"`` means this
        process's GPU, ``cuda:<LOCAL_RANK>`` as ``torchrun`` numbers them.
    """

    def __init__(self, device):
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        backend = dist.get_backend()
        self.backend = backend
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if backend == "nccl" and device.type != "cuda":
            raise ValueError(
                f"The process group uses the nccl backend, which needs GPUs, but the "
                f"estimator's device is {str(device)!r}; set device='cuda' (each process "
                "then uses its local GPU) or initialize the group with backend='gloo'."
            )
        self.device = str(device)
        # Collectives of the nccl backend only take GPU tensors.
        self._comm_device = device if backend == "nccl" else torch.device("cpu")

    def check_loss_weighting(self, strategy):
        """Refuse a strategy that fills gradients from per-task gradients:
        averaging each process's result is not its step on the whole batch."""
        if type(strategy).backward is not LossWeighting.backward:
            raise ValueError(
                f"loss_weighting={type(strategy).__name__}() computes each step from "
                "per-task gradients on the batch, which data-parallel training splits "
                "across processes; use 'fixed', 'uncertainty', 'dwa' or 'progressive' "
                "under torchrun, or train it in a single process."
            )

    def shared_rng(self, rng):
        """A NumPy generator seeded alike in every process (from process 0's
        ``rng``), for the validation split and the seeds."""
        seed = self._broadcast(int(rng.randint(np.iinfo(np.int32).max)))
        return np.random.RandomState(seed)

    def process_seed(self, seed):
        """This process's torch seed: its own dropout masks; process 0's
        initial weights reach the others when the module is wrapped."""
        return (seed + self.rank) % np.iinfo(np.int32).max

    def check_same_data(self, summary, what="X and Y"):
        """Raise the same ValueError in every process unless all of them passed
        the same data, described by ``summary`` (e.g. a tuple of numbers:
        sizes and checksums; or the files and settings of a ChunkedData,
        ``what`` the processes pass)."""
        gathered = self.gather(summary)
        if any(g != gathered[0] for g in gathered):
            raise ValueError(
                f"The processes of the data-parallel fit passed different data ({what} "
                f"per process: {gathered}). Every process must pass the same {what} to "
                "fit: the estimator gives each process its share of the rows."
            )

    def gather(self, value):
        """``value`` of every process (any picklable object), in rank order."""
        gathered = [None] * self.world_size
        if self._comm_device.type == "cuda":
            # nccl pickles through the current GPU: this process's own.
            with torch.cuda.device(self._comm_device):
                dist.all_gather_object(gathered, value)
        else:
            dist.all_gather_object(gathered, value)
        return gathered

    def sum(self, values):
        """``values`` (numbers) summed over the processes, as a float64 array."""
        tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self._comm_device)
        dist.all_reduce(tensor)
        return tensor.cpu().numpy()

    def agreed_steps(self, full_batches, rows_per_step):
        """The training steps of every process's epoch when each trains on its
        own share of the rows: the fewest ``full_batches`` of any process,
        so that no process waits on a collective of another's extra step."""
        steps = torch.tensor([full_batches], dtype=torch.int64, device=self._comm_device)
        dist.all_reduce(steps, op=dist.ReduceOp.MIN)
        steps = int(steps.item())
        if not steps:
            raise ValueError(
                f"A process of the data-parallel fit has fewer training rows than one "
                f"step takes from it ({rows_per_step}, batch_size over {self.world_size} "
                "processes): lower batch_size, or train on more rows or in fewer processes."
            )
        return steps

    def shard(self, seed):
        """The :class:`RowShard` of this process, its permutations drawn from ``seed``."""
        return RowShard(self.rank, self.world_size, seed)

    def rows_per_step(self, batch_size):
        """This process's rows per step, so that a step over all processes
        still covers ``batch_size`` rows."""
        if batch_size < self.world_size:
            raise ValueError(
                f"batch_size={batch_size} is smaller than the number of processes "
                f"({self.world_size}): batch_size counts the rows of one step over all "
                "processes, each of which needs at least one; raise batch_size."
            )
        return batch_size // self.world_size

    def wrap(self, module, others):
        """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel`,
        which gives it process 0's weights and averages its gradients;
        ``others`` (e.g. learnable loss weights) get process 0's values too."""
        for tensor in others:
            with torch.no_grad():
                self._broadcast_tensor(tensor)
        device = torch.device(self.device)
        return DistributedDataParallel(
            module, device_ids=None if device.type == "cpu" else [device]
        )

    def average(self, tensors):
        """Replace each tensor by its mean over the processes, in one collective."""
        flat = torch.cat([t.reshape(-1) for t in tensors]).to(self._comm_device)
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def _broadcast(self, value):
        tensor = torch.tensor([value], dtype=torch.int64, device=self._comm_device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def _broadcast_tensor(self, tensor):
        buffer = tensor.detach().to(self._comm_device)
        dist.broadcast(buffer, src=0)
        tensor.copy_(buffer)


class RowShard:
    """One process's share of each pass over the training rows.

    Every process draws the same permutation (same seed, same number of
    draws) and keeps every ``world_size``-th row from position ``rank``;
    the ``n % world_size`` rows left over (different ones each epoch when
    shuffling) are skipped, so that all shares have the same length.

    Parameters
    ----------
    rank, world_size : int
        This process and the number of processes.
    seed : int
        Seed of the permutations, the same in every process.
    """

    def __init__(self, rank, world_size, seed):
        self.rank = rank
        self.world_size = world_size
        self.generator = torch.Generator().manual_seed(seed)

    def rows(self, n, shuffle):
        """Positions of this process's rows among ``n``, as an int64 tensor."""
        order = torch.randperm(n, generator=self.generator) if shuffle else torch.arange(n)
        return order[self.rank : n - n % self.world_size : self.world_size]
