"""The pure-torch building blocks."""

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

import sklearn_mtl.nn as blocks
from sklearn_mtl.nn import (
    MLP,
    CGCLevel,
    MixedInputEmbedding,
    ParallelLinear,
    ParallelMLP,
    TaskTowers,
    mix_experts,
)


def test_building_blocks_import_neither_sklearn_nor_skorch():
    for path in Path(blocks.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] in {"sklearn", "skorch"} for n in names), path.name


def test_parallel_linear_equals_independent_linear_layers():
    torch.manual_seed(0)
    layer = ParallelLinear(3, 4, 2)
    singles = []
    for g in range(3):
        linear = nn.Linear(4, 2)
        with torch.no_grad():
            linear.weight.copy_(layer.weight[g].T)
            linear.bias.copy_(layer.bias[g])
        singles.append(linear)
    shared = torch.randn(5, 4)
    per_member = torch.randn(5, 3, 4)
    expected_shared = torch.stack([singles[g](shared) for g in range(3)], 1)
    expected_member = torch.stack([singles[g](per_member[:, g]) for g in range(3)], 1)
    torch.testing.assert_close(layer(shared), expected_shared)
    torch.testing.assert_close(layer(per_member), expected_member)


def test_parallel_mlp_without_layers_repeats_its_input():
    x = torch.randn(2, 3)
    out = ParallelMLP(4, 3, ())(x)
    assert out.shape == (2, 4, 3)
    torch.testing.assert_close(out[:, 2], x)


def test_mlp_layers_and_width():
    mlp = MLP(6, (5, 3), dropout=0.5)
    assert mlp.out_features == 3
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Dropout"] * 2
    assert MLP(6, ()).out_features == 6


def test_embedding_offsets_give_each_column_its_own_rows():
    embed = MixedInputEmbedding([2, 3], n_numeric=1, embedding_dim=2)
    with torch.no_grad():
        embed.table.weight.copy_(torch.arange(10.0).view(5, 2))
    out = embed(torch.tensor([[1, 2]]), torch.tensor([[7.0]]))
    # column 0 code 1 -> row 1; column 1 code 2 -> row 2 + 2 = 4
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0, 8.0, 9.0, 7.0]]))
    assert embed.out_features == 5


def test_embedding_gather_matches_a_table_lookup_and_its_gradient():
    embed = MixedInputEmbedding([3, 5, 7], n_numeric=1, embedding_dim=4)
    codes = torch.randint(0, 3, (16, 3))
    numeric = torch.randn(16, 1)
    out = embed(codes, numeric)
    expected = torch.cat([embed.table(codes + embed.offsets).flatten(1), numeric], dim=1)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    upstream = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * upstream).sum(), embed.table.weight)
    (expected_grad,) = torch.autograd.grad((expected * upstream).sum(), embed.table.weight)
    torch.testing.assert_close(grad, expected_grad)
    assert embed(codes[:0], numeric[:0]).shape == (0, embed.out_features)


def test_embedding_table_starts_at_init_std():
    torch.manual_seed(0)
    wide = MixedInputEmbedding([500], n_numeric=0, embedding_dim=8).table.weight
    small = MixedInputEmbedding([500], n_numeric=0, embedding_dim=8, init_std=1e-4).table.weight
    assert 0.5 < wide.std().item() < 2
    assert 0.5e-4 < small.std().item() < 2e-4


def test_task_towers_output_one_logit_per_task():
    towers = TaskTowers(3, 4, (8,))
    assert towers(torch.randn(6, 4)).shape == (6, 3)
    assert towers(torch.randn(6, 3, 4)).shape == (6, 3)


@pytest.mark.parametrize("n_gates, n_experts, width", [(3, 4, 32), (2, 3, 16), (1, 2, 1), (2, 8, 32)])
def test_mix_experts_equals_a_batched_matmul_in_value_and_gradient(n_gates, n_experts, width):
    # Small mixtures take the zero-padded path: the padding must change nothing.
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(7, n_gates, n_experts), -1).requires_grad_()
    experts = torch.randn(7, n_experts, width, requires_grad=True)
    upstream = torch.randn(7, n_gates, width)
    mixed = mix_experts(weights, experts)
    assert mixed.shape == (7, n_gates, width)
    grads = torch.autograd.grad(mixed, (weights, experts), upstream)
    expected = torch.bmm(weights, experts)
    expected_grads = torch.autograd.grad(expected, (weights, experts), upstream)
    torch.testing.assert_close(mixed, expected)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("batch_norm, gate_bias", [(False, False), (True, True)])
@pytest.mark.parametrize("gate_hidden_units", [(), (5,)])
@pytest.mark.parametrize("shared_gate", [True, False])
def test_cgc_level_reading_one_input_equals_the_general_path(
    gate_hidden_units, shared_gate, batch_norm, gate_bias
):
    # The first PLE level runs all first layers as one GEMM when task and shared
    # inputs are the same tensor; an equal copy takes the per-group path.
    torch.manual_seed(0)
    level = CGCLevel(6, 2, num_specific_experts=2, num_shared_experts=1,
                     expert_hidden_units=(4, 3), gate_hidden_units=gate_hidden_units,
                     shared_gate=shared_gate, batch_norm=batch_norm, gate_bias=gate_bias)
    x = torch.randn(9, 6, requires_grad=True)
    fused = level(x, x)
    general = level(x, x.clone())
    for a, b in zip(fused, general):
        if a is None:
            assert b is None
            continue
        torch.testing.assert_close(a, b)
    loss = lambda outputs: sum(o.square().sum() for o in outputs if o is not None)  # noqa: E731
    fused_grads = torch.autograd.grad(loss(fused), [x, *level.parameters()])
    general_grads = torch.autograd.grad(loss(general), [x, *level.parameters()])
    for a, b in zip(fused_grads, general_grads):
        torch.testing.assert_close(a, b)
