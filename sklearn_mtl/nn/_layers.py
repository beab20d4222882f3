"""Dense layers: a plain MLP and groups of independent MLPs run as one batched matmul."""

import math

import torch
from torch import nn


def _hidden_block(linear, activation, dropout, norm=None):
    block = [linear] if norm is None else [linear, norm]
    block.append(activation())
    if dropout > 0:
        block.append(nn.Dropout(dropout))
    return block


class MLP(nn.Sequential):
    """Stack of ``Linear -> [BatchNorm] -> activation -> Dropout`` layers.

    Parameters
    ----------
    in_features : int
        Size of each input row.
    hidden_units : sequence of int
        Width of each hidden layer; empty means the identity.
    dropout : float, default=0.0
        Dropout probability after each activation.
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class, instantiated once per layer.
    batch_norm : bool, default=False
        Whether a :class:`torch.nn.BatchNorm1d` follows each hidden linear
        layer, before its activation (in train mode it needs batches of
        more than one row).

    Attributes
    ----------
    out_features : int
        Width of the output (``in_features`` when there is no hidden layer).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import MLP
    >>> mlp = MLP(4, (8, 3))
    >>> mlp(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self, in_features, hidden_units, *, dropout=0.0, activation=nn.ReLU, batch_norm=False
    ):
        layers = []
        for units in hidden_units:
            norm = nn.BatchNorm1d(units) if batch_norm else None
            layers += _hidden_block(nn.Linear(in_features, units), activation, dropout, norm)
            in_features = units
        super().__init__(*layers)
        self.out_features = in_features


class ParallelLinear(nn.Module):
    """``n_parallel`` independent linear maps evaluated in one batched matmul.

    Experts, gates and task towers are groups of small identical-shape layers;
    running them as one ``(n_parallel, in, out)`` weight avoids a Python loop
    per member and is what makes many experts cheap.

    Parameters
    ----------
    n_parallel : int
        Number of independent maps.
    in_features : int
        Input width of each map.
    out_features : int
        Output width of each map.
    bias : bool, default=True
        Whether each map has a bias.

    Notes
    -----
    The input is either ``(n, in_features)``, shared by every member, or
    ``(n, n_parallel, in_features)``, one input per member. The output is
    ``(n, n_parallel, out_features)``. Initialisation matches
    :class:`torch.nn.Linear` for each member.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import ParallelLinear
    >>> layer = ParallelLinear(3, 4, 2)
    >>> layer(torch.zeros(5, 4)).shape
    torch.Size([5, 3, 2])
    >>> layer(torch.zeros(5, 3, 4)).shape
    torch.Size([5, 3, 2])
    """

    def __init__(self, n_parallel, in_features, out_features, *, bias=True):
        super().__init__()
        self.n_parallel = n_parallel
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(n_parallel, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_parallel, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Initialise each weight and bias as ``torch.nn.Linear`` does."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def flat_weight(self):
        """The members' weights side by side.

        Returns
        -------
        torch.Tensor of shape (in_features, n_parallel * out_features)
            Member ``g``'s weight in columns ``g * out_features`` to
            ``(g + 1) * out_features``.
        """
        return self.weight.permute(1, 0, 2).reshape(self.in_features, -1)

    def from_flat(self, product):
        """The layer's output from the product of a shared input and :meth:`flat_weight`.

        Parameters
        ----------
        product : torch.Tensor of shape (n, n_parallel * out_features)
            ``x @ self.flat_weight()`` for a 2-D input ``x``.

        Returns
        -------
        torch.Tensor of shape (n, n_parallel, out_features)
            What ``self(x)`` returns.
        """
        out = product.view(product.shape[0], self.n_parallel, self.out_features)
        return out + self.bias if self.bias is not None else out

    def forward(self, x):
        if x.dim() == 2:
            # A shared input is one GEMM against all members' weights side by side.
            return self.from_flat(x @ self.flat_weight())
        out = torch.einsum("ngi,gio->ngo", x, self.weight)
        return out + self.bias if self.bias is not None else out

    def extra_repr(self):
        return (
            f"n_parallel={self.n_parallel}, in_features={self.in_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class ParallelBatchNorm(nn.Module):
    """Batch normalisation of each feature of each of ``n_parallel`` members.

    The same as one :class:`torch.nn.BatchNorm1d` per member, run as one
    over the members' features side by side.

    Parameters
    ----------
    n_parallel : int
        Number of members.
    num_features : int
        Features of each member.
    eps : float, default=1e-5
        Added to the variance, as in :class:`torch.nn.BatchNorm1d`.
    momentum : float, default=0.1
        Weight of each batch in the running statistics.

    Notes
    -----
    The input and output are ``(n, n_parallel, num_features)``. The
    statistics are over the rows of the batch (unweighted) in train mode,
    the running ones in eval mode.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import ParallelBatchNorm
    >>> norm = ParallelBatchNorm(3, 4)
    >>> out = norm(torch.randn(8, 3, 4))
    >>> out.shape
    torch.Size([8, 3, 4])
    >>> bool(torch.allclose(out.mean(0), torch.zeros(3, 4), atol=1e-6))
    True
    """

    def __init__(self, n_parallel, num_features, *, eps=1e-5, momentum=0.1):
        super().__init__()
        self.n_parallel = n_parallel
        self.num_features = num_features
        self.norm = nn.BatchNorm1d(n_parallel * num_features, eps=eps, momentum=momentum)

    def forward(self, x):
        # reshape, not view: a member-per-row input can arrive non-contiguous.
        return self.norm(x.reshape(x.shape[0], -1)).view(x.shape)

    def extra_repr(self):
        return f"n_parallel={self.n_parallel}, num_features={self.num_features}"


class ParallelMLP(nn.Sequential):
    """``n_parallel`` independent MLPs of the same shape (experts, towers).

    Parameters
    ----------
    n_parallel : int
        Number of independent MLPs.
    in_features : int
        Input width.
    hidden_units : sequence of int
        Width of each hidden layer; empty means the identity.
    dropout : float, default=0.0
        Dropout probability after each activation.
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class.
    batch_norm : bool, default=False
        Whether a :class:`ParallelBatchNorm` (per member and feature)
        follows each hidden linear layer, before its activation.

    Attributes
    ----------
    out_features : int
        Output width of each member.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import ParallelMLP
    >>> experts = ParallelMLP(4, 10, (16, 8))
    >>> experts(torch.zeros(32, 10)).shape
    torch.Size([32, 4, 8])
    """

    def __init__(
        self,
        n_parallel,
        in_features,
        hidden_units,
        *,
        dropout=0.0,
        activation=nn.ReLU,
        batch_norm=False,
    ):
        layers = []
        for units in hidden_units:
            norm = ParallelBatchNorm(n_parallel, units) if batch_norm else None
            layers += _hidden_block(
                ParallelLinear(n_parallel, in_features, units), activation, dropout, norm
            )
            in_features = units
        super().__init__(*layers)
        self.n_parallel = n_parallel
        self.out_features = in_features
        # An attribute, not len(self): TorchScript has no len of a module.
        self.n_layers = len(layers)

    def forward(self, x):
        if self.n_layers == 0 and x.dim() == 2:
            return x.unsqueeze(1).expand(-1, self.n_parallel, -1)
        for layer in self:
            x = layer(x)
        return x

    def after_first_linear(self, h):
        """The MLPs' output given their first linear layer's output.

        Parameters
        ----------
        h : torch.Tensor of shape (n, n_parallel, units)
            Output of the first :class:`ParallelLinear` (before its activation).

        Returns
        -------
        torch.Tensor of shape (n, n_parallel, out_features)
        """
        for i, layer in enumerate(self):
            if i > 0:
                h = layer(h)
        return h


class TaskTowers(nn.Module):
    """One MLP tower per task, each ending in its task's output logits.

    Parameters
    ----------
    n_tasks : int
        Number of towers.
    in_features : int
        Input width of each tower.
    hidden_units : sequence of int
        Hidden layers of each tower.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    output_widths : sequence of int, default=None
        Each tower's number of outputs (e.g. ``K`` logits for a task of
        ``K`` classes); one each when None.
    batch_norm : bool, default=False
        Whether the hidden layers are batch-normalised (see
        :class:`ParallelMLP`); the output logits never are.

    Attributes
    ----------
    out_features : int
        Total number of outputs, ``sum(output_widths)``.

    Notes
    -----
    The input is ``(n, in_features)`` (shared, as in a shared-bottom model)
    or ``(n, n_tasks, in_features)`` (one representation per task, as after
    MMoE gates). The output is ``(n, out_features)``: each task's outputs
    side by side, in task order (the ``(n, n_tasks)`` logits when every task
    has one). The output layers are one batched matmul at the widest
    width; a narrower tower's extra columns are dropped and never trained.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import TaskTowers
    >>> towers = TaskTowers(2, 8, (4,))
    >>> towers(torch.zeros(3, 2, 8)).shape
    torch.Size([3, 2])
    >>> TaskTowers(2, 8, (4,), output_widths=[1, 5])(torch.zeros(3, 8)).shape
    torch.Size([3, 6])
    """

    def __init__(
        self,
        n_tasks,
        in_features,
        hidden_units,
        *,
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
    ):
        super().__init__()
        widths = [1] * n_tasks if output_widths is None else [int(w) for w in output_widths]
        if len(widths) != n_tasks or min(widths) < 1:
            raise ValueError(
                f"output_widths must hold {n_tasks} positive integers, got {output_widths!r}."
            )
        self.hidden = ParallelMLP(
            n_tasks, in_features, hidden_units, dropout=dropout, batch_norm=batch_norm
        )
        self.output = ParallelLinear(n_tasks, self.hidden.out_features, max(widths))
        self.out_features = sum(widths)
        kept = [t * max(widths) + j for t, width in enumerate(widths) for j in range(width)]
        self.register_buffer(
            "_kept_outputs",
            None if max(widths) == 1 else torch.tensor(kept),
            persistent=False,
        )

    def forward(self, x):
        out = self.output(self.hidden(x))
        if self._kept_outputs is None:
            return out.squeeze(-1)
        return out.flatten(1).index_select(1, self._kept_outputs)
