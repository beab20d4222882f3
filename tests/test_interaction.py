"""Feature-interaction blocks: equal to the papers' equations and to DeepCTR-Torch's layers."""

import itertools
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch

from sklearn_mtl.models import MMoE, PLE, SharedBottom
from sklearn_mtl.nn import (
    STEM,
    AdaTT,
    CategoricalInputs,
    CrossNetwork,
    CrossNetworkMix,
    FactorizationMachine,
    InteractionEmbedding,
    MixedInputEmbedding,
)

SHAPES = dict(
    n=st.integers(1, 6), width=st.integers(1, 7), layers=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
)


def _set(parameter, values):
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(values))


def _cross_reference(x, W, b):
    """DCN-v2 eq. 1, row by row: x_{l+1} = x_0 * (W_l x_l + b_l) + x_l."""
    out = []
    for x0 in x:
        xl = x0
        for Wl, bl in zip(W, b):
            xl = x0 * (Wl @ xl + bl) + xl
        out.append(xl)
    return np.array(out)


def _cross_mix_reference(x, U, V, C, G, b):
    """DCN-v2 eq. 3 with g = tanh, softmax gates G x_l, row by row and expert by expert."""
    out = []
    for x0 in x:
        xl = x0
        for Ul, Vl, Cl, bl in zip(U, V, C, b):
            logits = G @ xl
            gates = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            experts = [
                x0 * (Ui @ np.tanh(Ci @ np.tanh(Vi.T @ xl)) + bl) for Ui, Vi, Ci in zip(Ul, Vl, Cl)
            ]
            xl = sum(g * e for g, e in zip(gates, experts)) + xl
        out.append(xl)
    return np.array(out)


def _fm_reference(fields):
    """Rendle's definition: the sum over pairs i < j of v_i * v_j (no linear-time identity)."""
    n, f, _ = fields.shape
    return np.array([
        sum(fields[r, i] * fields[r, j] for i, j in itertools.combinations(range(f), 2))
        for r in range(n)
    ])


@settings(max_examples=30, deadline=None)
@given(**SHAPES)
def test_cross_network_is_the_paper_equation(n, width, layers, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(n, width)), rng.normal(size=(layers, width, width)), rng.normal(size=(layers, width))
    cross = CrossNetwork(width, num_layers=layers).double()
    _set(cross.weight, W)
    _set(cross.bias, b)
    got = cross(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, _cross_reference(x, W, b), rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(**SHAPES, experts=st.integers(1, 4), rank=st.integers(1, 4))
def test_cross_network_mix_is_the_paper_equation(n, width, layers, seed, experts, rank):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width))
    U, V = (rng.normal(size=(layers, experts, width, rank)) for _ in range(2))
    C = rng.normal(size=(layers, experts, rank, rank))
    G, b = rng.normal(size=(experts, width)), rng.normal(size=(layers, width))
    cross = CrossNetworkMix(width, num_layers=layers, num_experts=experts, low_rank=rank).double()
    for parameter, values in [(cross.U, U), (cross.V, V), (cross.C, C), (cross.gate.weight, G),
                              (cross.bias, b)]:
        _set(parameter, values)
    got = cross(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, _cross_mix_reference(x, U, V, C, G, b), rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), n_fields=st.integers(0, 4), n_numeric=st.integers(0, 3),
       dim=st.integers(1, 5), numeric_factors=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_factorization_machine_is_rendles_pairwise_sum(n, n_fields, n_numeric, dim,
                                                       numeric_factors, seed):
    if n_fields + (n_numeric if numeric_factors else 0) < 2:
        with pytest.raises(ValueError, match="at least two fields"):
            FactorizationMachine(n_fields, dim, n_numeric, numeric_factors=numeric_factors)
        return
    rng = np.random.default_rng(seed)
    embedded, numeric = rng.normal(size=(n, n_fields, dim)), rng.normal(size=(n, n_numeric))
    factors = rng.normal(size=(n_numeric, dim))
    fm = FactorizationMachine(n_fields, dim, n_numeric, numeric_factors=numeric_factors,
                              output="both").double()
    if numeric_factors:
        _set(fm.numeric_weight, factors)
    x = torch.from_numpy(np.concatenate([embedded.reshape(n, -1), numeric], axis=1))
    fields = embedded
    if numeric_factors:  # a real-valued feature scales its factor (Rendle, section III)
        fields = np.concatenate([embedded, numeric[:, :, None] * factors[None]], axis=1)
    vector = _fm_reference(fields)
    got = fm(x).detach().numpy()
    np.testing.assert_allclose(got[:, :dim], vector, rtol=1e-10, atol=1e-10)
    # The scalar FM: sum over pairs of the inner products <v_i, v_j>.
    np.testing.assert_allclose(got[:, dim], vector.sum(1), rtol=1e-10, atol=1e-10)


def test_factorization_machine_outputs():
    x = torch.randn(3, 2 * 4 + 1, dtype=torch.float64)
    fms = {o: FactorizationMachine(2, 4, 1, output=o).double() for o in ("vector", "scalar", "both")}
    for fm in fms.values():
        _set(fm.numeric_weight, fms["both"].numeric_weight)
    both = fms["both"](x)
    assert [fm.out_features for fm in fms.values()] == [4, 1, 5]
    torch.testing.assert_close(fms["vector"](x), both[:, :4])
    torch.testing.assert_close(fms["scalar"](x), both[:, 4:])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CrossNetwork(0), "in_features must be an integer >= 1"),
        (lambda: CrossNetwork(4, num_layers=2.0), "num_layers must be an integer >= 1"),
        (lambda: CrossNetworkMix(4, low_rank=0), "low_rank must be an integer >= 1"),
        (lambda: FactorizationMachine(3, 4, output="matrix"), "output must be one of"),
        (lambda: FactorizationMachine(-1, 4), "n_fields must be an integer >= 0"),
        (lambda: FactorizationMachine(1, 4, 3, numeric_factors=False), "at least two fields"),
        (lambda: InteractionEmbedding(MixedInputEmbedding([3], 2, 4), CrossNetwork(5)),
         "CrossNetwork takes 5 input features but the embedding gives 6"),
        (lambda: InteractionEmbedding(MixedInputEmbedding([3], 2, 4), CrossNetwork(6), "sum"),
         "combine must be one of"),
    ],
)
def test_bad_parameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# DeepCTR-Torch's layers after a weight transfer ------------------------------------------


@pytest.fixture(scope="module")
def deepctr_layers():
    return pytest.importorskip("deepctr_torch.layers")


@settings(max_examples=15, deadline=None)
@given(**SHAPES)
def test_cross_network_equals_deepctr_crossnet_matrix(deepctr_layers, n, width, layers, seed):
    torch.manual_seed(seed)
    theirs = deepctr_layers.CrossNet(width, layer_num=layers, parameterization="matrix").double()
    _set(theirs.bias, torch.randn_like(theirs.bias))
    ours = CrossNetwork(width, num_layers=layers).double()
    _set(ours.weight, theirs.kernels)
    _set(ours.bias, theirs.bias.squeeze(-1))
    x = torch.randn(n, width, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(**SHAPES, experts=st.integers(1, 4), rank=st.integers(1, 4))
def test_cross_network_mix_equals_deepctr_crossnetmix(deepctr_layers, n, width, layers, seed,
                                                      experts, rank):
    torch.manual_seed(seed)
    theirs = deepctr_layers.CrossNetMix(
        width, low_rank=rank, num_experts=experts, layer_num=layers
    ).double()
    _set(theirs.bias, torch.randn_like(theirs.bias))
    ours = CrossNetworkMix(width, num_layers=layers, num_experts=experts, low_rank=rank).double()
    for mine, values in [(ours.U, theirs.U_list), (ours.V, theirs.V_list), (ours.C, theirs.C_list),
                         (ours.bias, theirs.bias.squeeze(-1))]:
        _set(mine, values)
    _set(ours.gate.weight, torch.cat([g.weight for g in theirs.gating]))
    # DeepCTR squeezes every size-1 dimension of its output: compare a batch of two or more.
    x = torch.randn(n + 1, width, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x).reshape(n + 1, width), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("numeric_factors", [True, False])
def test_factorization_machine_equals_deepctr_fm(deepctr_layers, numeric_factors):
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([4, 6, 3], n_numeric=2, embedding_dim=5).double()
    fm = FactorizationMachine.from_embedding(
        embedding, numeric_factors=numeric_factors, output="scalar"
    ).double()
    codes, numeric = torch.tensor([[1, 5, 2], [3, 0, 1], [0, 2, 2]]), torch.randn(3, 2).double()
    fields = embedding.field_embeddings(codes, numeric)
    if numeric_factors:  # the numeric fields as DeepCTR's dense embeddings would be: x_j w_j
        fields = torch.cat([fields, numeric.unsqueeze(-1) * fm.numeric_weight], dim=1)
    theirs = deepctr_layers.FM()(fields)
    torch.testing.assert_close(fm(embedding(codes, numeric)), theirs, rtol=1e-12, atol=1e-12)


# The embedding's fields ------------------------------------------------------------------


def test_field_embeddings_are_the_table_rows_and_pooled_bags():
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([3, 4], 2, 5, bag_cardinalities=[6], pooling="sum")
    table = embedding.table.weight
    codes, bags = torch.tensor([[1, 3], [2, 0]]), [[[1, 4], []]]
    inputs = CategoricalInputs.from_bags(codes, bags)
    numeric = torch.randn(2, 2)
    fields = embedding.field_embeddings(inputs, numeric)
    # column j's code c is row offset_j + c of the shared table: offsets 0, 3, then 7 (bags)
    expected = torch.stack([
        torch.stack([table[1], table[3 + 3], table[7 + 1] + table[7 + 4]]),
        torch.stack([table[2], table[3 + 0], torch.zeros(5)]),
    ])
    torch.testing.assert_close(fields, expected)
    assert embedding.n_fields == 3 and embedding.embedding_dim == 5
    torch.testing.assert_close(embedding(inputs, numeric)[:, 15:], numeric)


def test_redraw_draws_the_table_again_at_init_std():
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([2000], 0, 50, init_std=1e-2)
    before = embedding.table.weight.detach().clone()
    embedding.redraw()
    after = embedding.table.weight.detach()
    assert not torch.equal(before, after)
    assert abs(after.std().item() - 1e-2) < 1e-3


# Between the embedding and any model --------------------------------------------------------

BLOCKS = {
    "cross": lambda e: CrossNetwork(e.out_features, num_layers=2),
    "cross_mix": lambda e: CrossNetworkMix(e.out_features, num_experts=3, low_rank=4),
    "fm": lambda e: FactorizationMachine.from_embedding(e, output="both"),
}
MODELS = {
    "shared_bottom": lambda e: SharedBottom(e, 2, bottom_hidden_units=(8,), tower_hidden_units=(4,)),
    "mmoe": lambda e: MMoE(e, 2, num_experts=3, expert_hidden_units=(8,), tower_hidden_units=(4,)),
    "ple": lambda e: PLE(e, 2, num_levels=2, num_specific_experts=1, num_shared_experts=2,
                         expert_hidden_units=(8,), tower_hidden_units=(4,)),
    "adatt": lambda e: AdaTT(e, 2, num_shared_experts=1, expert_hidden_units=(8,)),
    # STEM draws each task's copy of the wrapped embedding again, the block included.
    "stem": lambda e: STEM(e, 2, expert_hidden_units=(8,)),
}


def _inputs(n=5):
    return torch.randint(0, 4, (n, 2)), torch.randn(n, 3)


@pytest.mark.parametrize("combine", ["replace", "concat"])
@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_takes_an_interaction_embedding(model, block, combine):
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([4, 4], 3, 4)
    interaction = BLOCKS[block](embedding)
    wrapped = InteractionEmbedding(embedding, interaction, combine)
    module = MODELS[model](wrapped).eval()
    categorical, numeric = _inputs()
    x = embedding(categorical, numeric)
    expected = interaction(x) if combine == "replace" else torch.cat([x, interaction(x)], 1)
    torch.testing.assert_close(wrapped(categorical, numeric), expected)
    assert wrapped.out_features == expected.shape[1]
    assert module(categorical, numeric).shape == (5, 2)
    for task_copy in getattr(module, "embeddings", [])[:-1]:
        drawn, given = (torch.cat([p.flatten() for p in block.parameters()])
                        for block in (task_copy.interaction, interaction))
        assert drawn.shape == given.shape and not torch.equal(drawn, given)
    # The interaction's parameters are trained with the embedding's, shared by every task.
    assert set(map(id, interaction.parameters())) <= set(map(id, module.shared_parameters()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's own
        scripted = torch.jit.script(module)
    torch.testing.assert_close(scripted(categorical, numeric), module(categorical, numeric))


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_blocks_run_in_float64_and_script(block):
    embedding = MixedInputEmbedding([4, 4], 3, 4)
    interaction = BLOCKS[block](embedding).double()
    x = embedding.double()(*_inputs())
    out = interaction(x)
    assert out.dtype == torch.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(interaction)
    torch.testing.assert_close(scripted(x), out, rtol=0, atol=0)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_blocks_export_to_onnx(block, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([4, 4], 3, 4)
    interaction = BLOCKS[block](embedding).eval()
    x = embedding(*_inputs(6)).detach()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            interaction, (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("n")},),
            verbose=False,
        )
    program.save(tmp_path / "block.onnx")
    session = ort.InferenceSession(str(tmp_path / "block.onnx"))
    other = embedding(*_inputs(9)).detach()  # another batch size than the export's
    got = session.run(None, {session.get_inputs()[0].name: other.numpy()})[0]
    np.testing.assert_allclose(got, interaction(other).detach().numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(block=st.sampled_from(sorted(BLOCKS)), rows=st.lists(st.integers(0, 11), min_size=1,
                                                             max_size=12))
def test_a_rows_interactions_do_not_depend_on_the_rest_of_its_batch(block, rows):
    # Any subset, order or repetition of the rows of a batch: the same rows, the same output.
    torch.manual_seed(0)
    embedding = MixedInputEmbedding([4, 4], 3, 4).double()
    interaction = BLOCKS[block](embedding).double()
    categorical, numeric = _inputs(12)
    x = embedding(categorical, numeric.double())
    index = torch.tensor(rows)
    torch.testing.assert_close(interaction(x[index]), interaction(x)[index], rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n_single=st.integers(0, 3), bag_lengths=st.lists(st.lists(st.integers(0, 3), min_size=2,
                                                                    max_size=2), max_size=2),
       n_numeric=st.integers(0, 2), seed=st.integers(0, 2**31 - 1))
def test_factorization_machine_over_any_mix_of_column_types(n_single, bag_lengths, n_numeric,
                                                            seed):
    # Single-valued columns, bags of any length (empty ones too) and numeric columns: the FM
    # pairs every embedded field, bag means included, and every numeric field x_j w_j.
    if n_single + len(bag_lengths) + n_numeric < 2:
        return
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cardinality, dim = 5, 3
    embedding = MixedInputEmbedding([cardinality] * n_single, n_numeric, dim,
                                    bag_cardinalities=[cardinality] * len(bag_lengths)).double()
    fm = FactorizationMachine.from_embedding(embedding).double()
    codes = torch.from_numpy(rng.integers(0, cardinality, (2, n_single)))
    bags = [[rng.integers(0, cardinality, length).tolist() for length in column]
            for column in bag_lengths]
    numeric = torch.from_numpy(rng.normal(size=(2, n_numeric)))
    inputs = CategoricalInputs.from_bags(codes, bags) if bags else codes
    table = embedding.table.weight.detach().numpy() if embedding.table is not None else None
    fields = []
    for row in range(2):
        vectors = [table[j * cardinality + int(codes[row, j])] for j in range(n_single)]
        for j, column in enumerate(bags):
            items = [table[(n_single + j) * cardinality + item] for item in column[row]]
            vectors.append(np.mean(items, axis=0) if items else np.zeros(dim))
        vectors += [float(numeric[row, j]) * fm.numeric_weight[j].detach().numpy()
                    for j in range(n_numeric)]
        fields.append(vectors)
    expected = _fm_reference(np.array(fields))
    got = fm(embedding(inputs, numeric)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
