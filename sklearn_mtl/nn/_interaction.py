"""Explicit feature interactions between the embedding and the rest of a network.

Every block takes the flat output of :class:`MixedInputEmbedding`, ``(n,
in_features)``, and returns ``(n, out_features)``, so that
:class:`InteractionEmbedding` can put any of them between an embedding and
the experts, bottom or towers of any model without the model knowing.
"""

import torch
from torch import nn

from .._shared import fill_doc
from ._checks import check_counts


@fill_doc
class CrossNetwork(nn.Module):
    """Full-rank cross network of DCN-v2 (Wang et al., WWW 2021, eq. 1).

    Layer ``l`` computes ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``: an
    elementwise product with the input ``x_0`` raises the degree of the
    polynomial of the features by one per layer, and the residual ``x_l``
    keeps the lower degrees.

    Parameters
    ----------
    {cross_layers}

    Attributes
    ----------
    out_features : int
        ``in_features``: a cross layer keeps the width.

    Notes
    -----
    ``weight[l]`` is ``W_l`` (``(in_features, in_features)``, Xavier-normal
    at the start) and ``bias[l]`` is ``b_l`` (zeros at the start), as in
    DeepCTR-Torch's ``CrossNet(parameterization="matrix")``.

    References
    ----------
    R. Wang, R. Shivanna, D. Cheng, S. Jain, D. Lin, L. Hong, E. Chi.
    "DCN V2: Improved Deep & Cross Network and Practical Lessons for
    Web-scale Learning to Rank Systems", WWW 2021.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import CrossNetwork
    >>> cross = CrossNetwork(6, num_layers=3)
    >>> cross(torch.randn(4, 6)).shape
    torch.Size([4, 6])
    """

    def __init__(self, in_features, num_layers=2):
        super().__init__()
        check_counts({"in_features": (in_features, 1), "num_layers": (num_layers, 1)})
        self.in_features = self.out_features = in_features
        self.num_layers = num_layers
        self.weight = nn.Parameter(torch.empty(num_layers, in_features, in_features))
        self.bias = nn.Parameter(torch.empty(num_layers, in_features))
        self.reset_parameters()

    def reset_parameters(self):
        """Draw each ``W_l`` Xavier-normal and set each ``b_l`` to zero."""
        for layer in self.weight.data:
            nn.init.xavier_normal_(layer)
        nn.init.zeros_(self.bias)

    def forward(self, x):
        x_l = x
        for l in range(self.num_layers):
            x_l = x * (x_l @ self.weight[l].T + self.bias[l]) + x_l
        return x_l

    def extra_repr(self):
        return f"in_features={self.in_features}, num_layers={self.num_layers}"


@fill_doc
class CrossNetworkMix(nn.Module):
    """Low-rank mixture-of-experts cross network of DCN-v2 (its eq. 3, "DCN-Mix").

    Layer ``l`` mixes ``K`` low-rank experts,
    ``E_i(x_l) = x_0 * (U_i g(C_i g(V_i^T x_l)) + b_l)`` with ``g = tanh``,
    by softmax gates on ``x_l``:
    ``x_{l+1} = sum_i softmax(G x_l)_i E_i(x_l) + x_l``. Each expert costs
    ``O(d r)`` instead of the full-rank layer's ``O(d^2)``.

    Parameters
    ----------
    {cross_layers}
    num_experts : int, default=4
        Number of low-rank experts per layer.
    low_rank : int, default=32
        Rank ``r`` of each expert.

    Attributes
    ----------
    out_features : int
        ``in_features``.

    Notes
    -----
    As in DeepCTR-Torch's ``CrossNetMix``: ``U``, ``V`` (``(num_layers,
    num_experts, in_features, low_rank)``) and ``C`` (``(num_layers,
    num_experts, low_rank, low_rank)``) start Xavier-normal per expert, the
    bias ``b_l`` at zero, and one gate map ``G`` (``(num_experts,
    in_features)``, no bias) serves every layer.

    References
    ----------
    R. Wang et al. "DCN V2: Improved Deep & Cross Network and Practical
    Lessons for Web-scale Learning to Rank Systems", WWW 2021.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import CrossNetworkMix
    >>> cross = CrossNetworkMix(6, num_experts=3, low_rank=2)
    >>> cross(torch.randn(4, 6)).shape
    torch.Size([4, 6])
    """

    def __init__(self, in_features, num_layers=2, num_experts=4, low_rank=32):
        super().__init__()
        check_counts({"in_features": (in_features, 1), "num_layers": (num_layers, 1),
                      "num_experts": (num_experts, 1), "low_rank": (low_rank, 1)})
        self.in_features = self.out_features = in_features
        self.num_layers = num_layers
        self.num_experts = num_experts
        self.low_rank = low_rank
        shape = (num_layers, num_experts)
        self.U = nn.Parameter(torch.empty(*shape, in_features, low_rank))
        self.V = nn.Parameter(torch.empty(*shape, in_features, low_rank))
        self.C = nn.Parameter(torch.empty(*shape, low_rank, low_rank))
        self.bias = nn.Parameter(torch.empty(num_layers, in_features))
        self.gate = nn.Linear(in_features, num_experts, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw every expert's matrices Xavier-normal, the gate as torch's Linear, zero biases."""
        for matrix in (*self.U.data.flatten(0, 1), *self.V.data.flatten(0, 1),
                       *self.C.data.flatten(0, 1)):
            nn.init.xavier_normal_(matrix)
        nn.init.zeros_(self.bias)
        self.gate.reset_parameters()

    def forward(self, x):
        x_l = x
        x_0 = x.unsqueeze(1)
        for l in range(self.num_layers):
            low = torch.tanh(torch.einsum("nd,edr->ner", x_l, self.V[l]))
            low = torch.tanh(torch.einsum("ner,esr->nes", low, self.C[l]))
            experts = x_0 * (torch.einsum("nes,eds->ned", low, self.U[l]) + self.bias[l])
            gates = torch.softmax(self.gate(x_l), dim=-1)
            x_l = torch.bmm(gates.unsqueeze(1), experts).squeeze(1) + x_l
        return x_l

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, num_layers={self.num_layers}, "
            f"num_experts={self.num_experts}, low_rank={self.low_rank}"
        )


#: What a factorisation machine returns: (vector, scalar) flags by name.
_FM_OUTPUTS = {"vector": (True, False), "scalar": (False, True), "both": (True, True)}


class FactorizationMachine(nn.Module):
    """Second-order factorisation machine over the embedded fields (Rendle, 2010).

    With ``v_i`` the vector of field ``i``, the pairwise interactions
    ``sum_{i<j} v_i * v_j`` are computed in linear time as
    ``0.5 * ((sum_i v_i)^2 - sum_i v_i^2)``, elementwise: the "vector"
    (NFM's bi-interaction pooling, ``embedding_dim`` wide). Its sum over the
    embedding dimension is the FM's "scalar", ``sum_{i<j} <v_i, v_j>``,
    what DeepCTR-Torch's ``FM`` gives.

    Parameters
    ----------
    n_fields : int
        Number of embedded fields (:class:`MixedInputEmbedding`'s ``n_fields``).
    embedding_dim : int
        Width of each field's embedding.
    n_numeric : int, default=0
        Number of numeric columns after the fields in the input.
    numeric_factors : bool, default=True
        Whether each numeric column is a field of its own, ``x_j w_j`` with
        a learned factor ``w_j`` (Rendle's FM of a real-valued feature),
        which lets numeric columns interact with each other and with the
        categories. ``False`` leaves them out, as DeepCTR's DeepFM does.
    output : {"vector", "scalar", "both"}, default="vector"
        The pooled vector, the scalar, or both side by side (vector first).

    Attributes
    ----------
    in_features : int
        ``n_fields * embedding_dim + n_numeric``: the embedding's output.
    out_features : int
        ``embedding_dim``, 1 or ``embedding_dim + 1``, by ``output``.

    Notes
    -----
    The input is the flat embedding output, fields first (each
    ``embedding_dim`` wide), then the numeric columns. The numeric factors
    start at N(0, 0.1^2), libFM's default for the factors.

    References
    ----------
    S. Rendle. "Factorization Machines", ICDM 2010.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import FactorizationMachine, MixedInputEmbedding
    >>> embedding = MixedInputEmbedding([3, 5], n_numeric=2, embedding_dim=4)
    >>> fm = FactorizationMachine.from_embedding(embedding, output="both")
    >>> x = embedding(torch.tensor([[0, 4], [2, 1]]), torch.zeros(2, 2))
    >>> fm(x).shape
    torch.Size([2, 5])
    """

    def __init__(self, n_fields, embedding_dim, n_numeric=0, *, numeric_factors=True,
                 output="vector"):
        super().__init__()
        check_counts({"embedding_dim": (embedding_dim, 1), "n_fields": (n_fields, 0),
                      "n_numeric": (n_numeric, 0)})
        if output not in _FM_OUTPUTS:
            raise ValueError(f"output must be one of {sorted(_FM_OUTPUTS)}, got {output!r}.")
        n_factors = n_numeric if numeric_factors else 0
        if n_fields + n_factors < 2:
            raise ValueError(
                f"A factorisation machine needs at least two fields to interact, got "
                f"{n_fields} embedded field(s) and {n_factors} numeric field(s); use "
                "numeric_factors=True or embed more columns."
            )
        self.n_fields = n_fields
        self.embedding_dim = embedding_dim
        self.n_numeric = n_numeric
        self.numeric_factors = bool(n_factors)
        self.output = output
        self.vector_output, self.scalar_output = _FM_OUTPUTS[output]
        self.in_features = n_fields * embedding_dim + n_numeric
        self.out_features = embedding_dim * self.vector_output + self.scalar_output
        self.numeric_weight = nn.Parameter(torch.empty(n_factors, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self):
        """Draw the numeric factors from N(0, 0.1^2)."""
        nn.init.normal_(self.numeric_weight, 0.0, 0.1)

    @classmethod
    def from_embedding(cls, embedding, *, numeric_factors=True, output="vector"):
        """A factorisation machine over the fields of ``embedding``.

        Parameters
        ----------
        embedding : MixedInputEmbedding
            Gives ``n_fields``, ``embedding_dim`` and ``n_numeric``.
        numeric_factors : bool, default=True
            See the class.
        output : {"vector", "scalar", "both"}, default="vector"
            See the class.

        Returns
        -------
        FactorizationMachine
        """
        return cls(embedding.n_fields, embedding.embedding_dim, embedding.n_numeric,
                   numeric_factors=numeric_factors, output=output)

    def fields(self, x):
        """The field vectors that interact.

        Parameters
        ----------
        x : torch.Tensor of shape (n, in_features)
            The flat embedding output.

        Returns
        -------
        torch.Tensor of shape (n, n_fields (+ n_numeric), embedding_dim)
            The embedded fields, then each numeric column times its factor.
        """
        width = self.n_fields * self.embedding_dim
        fields = x[:, :width].reshape(x.shape[0], self.n_fields, self.embedding_dim)
        if self.numeric_factors:
            numeric = x[:, width:].unsqueeze(-1) * self.numeric_weight
            fields = torch.cat([fields, numeric], dim=1)
        return fields

    def forward(self, x):
        fields = self.fields(x)
        vector = 0.5 * (fields.sum(1).square() - fields.square().sum(1))
        if not self.scalar_output:
            return vector
        scalar = vector.sum(1, keepdim=True)
        return torch.cat([vector, scalar], dim=1) if self.vector_output else scalar

    def extra_repr(self):
        return (
            f"n_fields={self.n_fields}, embedding_dim={self.embedding_dim}, "
            f"n_numeric={self.n_numeric}, numeric_factors={self.numeric_factors}, "
            f"output={self.output!r}"
        )


#: How an InteractionEmbedding passes the interaction on: keep the embedding or not.
_COMBINE = {"replace": False, "concat": True}


class InteractionEmbedding(nn.Module):
    """An embedding followed by an interaction block, as one embedding.

    It has the embedding's contract, ``forward(categorical, numeric)`` to
    ``(n, out_features)``, so any model takes it where it takes a
    :class:`MixedInputEmbedding`, and its experts, bottom or towers see the
    interactions.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        The embedding; its ``out_features`` must be the block's ``in_features``.
    interaction : torch.nn.Module
        :class:`CrossNetwork`, :class:`CrossNetworkMix`,
        :class:`FactorizationMachine`, or any module mapping ``(n,
        in_features)`` to ``(n, out_features)``.
    combine : {"replace", "concat"}, default="replace"
        ``"replace"`` passes on the block's output only (DCN-v2's stacked
        form: cross network, then the deep part; NFM's bi-interaction
        pooling); ``"concat"`` passes on the embedding output and the
        block's side by side (an FM term next to the raw embeddings, as in
        DeepFM).

    Attributes
    ----------
    out_features : int
        The block's ``out_features``, plus the embedding's with ``"concat"``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import MMoE
    >>> from sklearn_mtl.nn import CrossNetwork, InteractionEmbedding, MixedInputEmbedding
    >>> embedding = MixedInputEmbedding([5], n_numeric=3, embedding_dim=4)
    >>> crossed = InteractionEmbedding(embedding, CrossNetwork(embedding.out_features))
    >>> module = MMoE(crossed, 2, num_experts=2, expert_hidden_units=(8,),
    ...               tower_hidden_units=(4,))
    >>> module(torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)).shape
    torch.Size([6, 2])
    """

    def __init__(self, embedding, interaction, combine="replace"):
        super().__init__()
        if combine not in _COMBINE:
            raise ValueError(f"combine must be one of {sorted(_COMBINE)}, got {combine!r}.")
        expected = getattr(interaction, "in_features", None)
        if expected is not None and expected != embedding.out_features:
            raise ValueError(
                f"{type(interaction).__name__} takes {expected} input features but the "
                f"embedding gives {embedding.out_features}; build it from the embedding "
                "(e.g. CrossNetwork(embedding.out_features) or "
                "FactorizationMachine.from_embedding(embedding))."
            )
        self.embedding = embedding
        self.interaction = interaction
        self.combine = combine
        self.keep_embedding = _COMBINE[combine]
        self.out_features = interaction.out_features + (
            embedding.out_features if self.keep_embedding else 0
        )

    def redraw(self):
        """Draw the embedding and the block again (e.g. for STEM's per-task copies)."""
        self.embedding.redraw()
        self.interaction.reset_parameters()

    def forward(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        crossed = self.interaction(x)
        return torch.cat([x, crossed], dim=1) if self.keep_embedding else crossed

    def extra_repr(self):
        return f"combine={self.combine!r}"
