"""Optimizers for embedding tables with sparse gradients: row-wise Adagrad and lazy Adam."""

import math

import torch


def _touched_rows(grad):
    """``(rows, values)`` of a gradient: for a sparse one, its distinct rows and
    their summed gradients (a row looked up twice in a batch has two entries);
    for a dense one, every row."""
    if grad.is_sparse:
        grad = grad.coalesce()
        return grad.indices()[0], grad.values()
    return None, grad


def _check_table(param, name):
    if param.dim() != 2:
        raise ValueError(
            f"{name} updates embedding tables, 2-D parameters of one row per ID; got a "
            f"parameter of shape {tuple(param.shape)}. Give it only the table (e.g. "
            "embedding.table.weight) and the other parameters to a dense optimizer."
        )


class _RowsStep:
    """``step`` of the table optimizers: the closure first, then ``_step_rows``."""

    def step(self, closure=None):
        """Update the rows touched by the gradients.

        Parameters
        ----------
        closure : callable, default=None
            Re-evaluates the model and returns the loss.

        Returns
        -------
        loss : torch.Tensor or None
            The closure's loss.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step_rows()
        return loss


class RowWiseAdagrad(_RowsStep, torch.optim.Optimizer):
    """Adagrad with one accumulator per row of an embedding table.

    The row-wise Adagrad of TorchRec and FBGEMM (``ROWWISE_ADAGRAD``): each
    row ``r`` keeps one value, the running sum over steps of the mean of its
    squared gradient over its columns, and steps by
    ``lr * g_r / (sqrt(state_r) + eps)``. Its state is one float per ID
    (4 bytes in float32) where Adam keeps two per embedding dimension
    (``8 * embedding_dim`` bytes), so a table of millions of IDs fits
    in memory with its optimizer.

    Gradients may be sparse (``torch.nn.Embedding(sparse=True)``,
    ``MixedInputEmbedding(sparse=True)``): only the rows they touch change,
    state and weights. A dense gradient touches every row.

    Parameters
    ----------
    params : iterable of torch.Tensor or dict
        The embedding tables, 2-D tensors of one row per ID.
    lr : float, default=0.01
        Learning rate.
    eps : float, default=1e-8
        Added to the square root of the accumulator.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient of the touched rows only
        (``g_r + weight_decay * w_r``), as FBGEMM's L2 mode: an ID absent from
        a batch is neither updated nor decayed.
    initial_accumulator_value : float, default=0.0
        Starting value of every row's accumulator.

    Notes
    -----
    ``state[p]["sum"]`` has shape ``(p.shape[0],)`` in ``p``'s dtype.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import RowWiseAdagrad
    >>> table = torch.nn.Embedding(1000, 16, sparse=True)
    >>> optimizer = RowWiseAdagrad(table.parameters(), lr=0.1)
    >>> table(torch.tensor([3, 7, 3])).sum().backward()
    >>> optimizer.step()
    >>> optimizer.state[table.weight]["sum"].shape
    torch.Size([1000])
    """

    def __init__(self, params, lr=0.01, eps=1e-8, weight_decay=0.0, initial_accumulator_value=0.0):
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value)):
            if not value >= 0.0:
                raise ValueError(f"RowWiseAdagrad's {name} must be non-negative; got {value!r}.")
        defaults = dict(lr=lr, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                _check_table(param, "RowWiseAdagrad")
                self.state[param]["sum"] = torch.full(
                    param.shape[:1], group["initial_accumulator_value"],
                    dtype=param.dtype, device=param.device,
                )

    @torch.no_grad()
    def _step_rows(self):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                rows, grad = _touched_rows(param.grad)
                weights = param if rows is None else param.index_select(0, rows)
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * weights
                accumulator = self.state[param]["sum"]
                total = grad.square().mean(1)
                if rows is None:
                    total = accumulator.add_(total)
                else:
                    total = accumulator.index_add_(0, rows, total).index_select(0, rows)
                update = grad * (group["lr"] / (total.sqrt() + group["eps"])).unsqueeze(1)
                if rows is None:
                    param.sub_(update)
                else:
                    param.index_add_(0, rows, update, alpha=-1.0)


class LazyAdam(_RowsStep, torch.optim.SparseAdam):
    """:class:`torch.optim.SparseAdam` with decoupled weight decay of the touched rows.

    Lazy Adam: a sparse gradient updates the moments and weights of the rows
    it touches only, so an ID absent from a batch keeps its weights and its
    moments (dense Adam would decay its moments and keep moving it). The bias
    correction uses the optimizer's step count, as SparseAdam's does.

    ``weight_decay`` is AdamW's decoupled decay, ``w_r <- w_r (1 - lr *
    weight_decay)`` before the Adam step, applied to the touched rows only:
    decaying every row each step would cost a pass over the whole table (what
    the sparse path avoids) and would shrink rare IDs between their
    appearances, by a factor that grows with their rarity rather than with
    their updates. An ID is decayed once per batch it appears in.

    The state is ``exp_avg`` and ``exp_avg_sq``, dense and of the table's
    shape, as for dense Adam: ``8 * embedding_dim`` bytes per ID in float32.
    What the sparse path saves is the dense gradient (``4 * embedding_dim``
    bytes per ID, written and read every step) and the pass over every row.
    A step gathers the touched rows of the weights and moments, updates them
    and writes them back (SparseAdam's arithmetic): its cost grows with the
    rows a batch touches, not with the table. The moments are zeroed in one
    sequential pass when the first step allocates them: left to the system's
    zero pages instead, every first write to a page of a table of millions of
    rows is a page fault at a random address, which cost 2-4x the sequential
    pass once a fit touches most pages (``benchmarks/results_scale.txt``).

    Parameters
    ----------
    params : iterable of torch.Tensor or dict
        The embedding tables; their gradients must be sparse.
    lr : float, default=0.001
        Learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default=1e-8
        Added to the square root of the second moment before its bias
        correction (SparseAdam's convention; Adam adds it after).
    weight_decay : float, default=0.0
        Decoupled decay of the touched rows.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import LazyAdam
    >>> table = torch.nn.Embedding(1000, 16, sparse=True)
    >>> optimizer = LazyAdam(table.parameters(), lr=0.01, weight_decay=0.01)
    >>> before = table.weight.detach().clone()
    >>> table(torch.tensor([3, 7])).sum().backward()
    >>> optimizer.step()
    >>> changed = (table.weight != before).any(1).nonzero().flatten().tolist()
    >>> changed
    [3, 7]
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not weight_decay >= 0.0:
            raise ValueError(f"LazyAdam's weight_decay must be non-negative; got {weight_decay!r}.")
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        for group in self.param_groups:
            group.setdefault("weight_decay", weight_decay)
            for param in group["params"]:
                _check_table(param, "LazyAdam")

    @torch.no_grad()
    def _step_rows(self):
        # SparseAdam's own step reads and writes its moments through sparse_mask and
        # sparse additions, which cost far more per touched row than gathering the
        # rows, updating them densely and scattering them back (the same arithmetic).
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps = float(group["lr"]), group["eps"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise ValueError(
                        "LazyAdam takes sparse gradients; build the embedding with "
                        "sparse=True, or use a dense optimizer."
                    )
                rows, grad = _touched_rows(param.grad)
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                if not len(rows):
                    continue
                weights = param.index_select(0, rows)
                if group["weight_decay"]:
                    weights.mul_(1 - lr * group["weight_decay"])
                exp_avg = state["exp_avg"].index_select(0, rows)
                exp_avg_sq = state["exp_avg_sq"].index_select(0, rows)
                # SparseAdam's order of operations: old + (1 - beta) * (new - old).
                exp_avg.add_(grad.sub(exp_avg).mul_(1 - beta1))
                exp_avg_sq.add_(grad.square().sub_(exp_avg_sq).mul_(1 - beta2))
                state["exp_avg"].index_copy_(0, rows, exp_avg)
                state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
                step = state["step"]
                step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                weights.add_(exp_avg.div_(exp_avg_sq.sqrt_().add_(eps)).mul_(-step_size))
                param.index_copy_(0, rows, weights)
