"""STEM and AdaTT: the batched modules against their papers' equations, member by member."""

import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sklearn_mtl.nn import AdaTT, MixedInputEmbedding, STEM

N_ROWS = 5


def _inputs(n=N_ROWS, seed=0):
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (n, 2), generator=generator)
    return codes, torch.randn(n, 3, generator=generator, dtype=torch.float64)


def _embedding():
    return MixedInputEmbedding([4, 4], 3, 3)


def _randomize(module, seed):
    # Non-zero biases and unit-scale weights: every term of the equations shows.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.5)
    return module


def _member_mlp(parallel_mlp, member, x):
    """One member of a ParallelMLP, as its own Linear -> ReLU stack."""
    for layer in parallel_mlp:
        if hasattr(layer, "weight"):
            x = F.relu(x @ layer.weight[member] + layer.bias[member])
    return x


def _member_gate(gate, member, x):
    """One gate of a SoftmaxGate: its hidden ReLU layers, its linear map, a softmax."""
    x = _member_mlp(gate.hidden, member, x)
    linear = gate.linear
    return torch.softmax(x @ linear.weight[member] + linear.bias[member], dim=-1)


def _towers(towers, task_inputs):
    logits = []
    for t, x in enumerate(task_inputs):
        x = _member_mlp(towers.hidden, t, x)
        logits.append(x @ towers.output.weight[t] + towers.output.bias[t])
    return torch.cat(logits, dim=1)


def _mix(weights, vectors):
    return sum(weights[:, e : e + 1] * v for e, v in enumerate(vectors))


# AdaTT ----------------------------------------------------------------------------------


def _adatt_reference(module, categorical, numeric):
    """AdaTT's eqs. 3-6 level by level: module k's experts on its own input; unit k fuses all
    experts by its softmax gate and adds its native experts, weighted (or by one)."""
    x = module.embedding(categorical, numeric)
    n_tasks = module.n_tasks
    inputs = None
    for level in module.levels:
        owner = level.module_of_expert.tolist()
        n_modules = max(owner) + 1
        inputs = [x] * n_modules if inputs is None else inputs
        experts = [_member_mlp(level.experts, e, inputs[m]) for e, m in enumerate(owner)]
        native = iter(level.native_weight if level.native_weight is not None
                      else level.native_fixed)
        fused = []
        for k in range(level.n_units):
            out = _mix(_member_gate(level.gates, k, inputs[k]), experts)
            for e, m in enumerate(owner):
                if m == k:
                    out = out + next(native) * experts[e]
            fused.append(out)
        inputs = fused
    return _towers(module.towers, inputs[:n_tasks])


@settings(max_examples=25, deadline=None)
@given(n_tasks=st.integers(1, 3), task_experts=st.integers(1, 3), shared=st.integers(0, 2),
       levels=st.integers(1, 3), residual=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_adatt_is_the_papers_fusion(n_tasks, task_experts, shared, levels, residual, seed):
    torch.manual_seed(seed)
    module = AdaTT(_embedding(), n_tasks, num_task_experts=task_experts,
                   num_shared_experts=shared, num_levels=levels, expert_hidden_units=(5, 4),
                   tower_hidden_units=(3,), native_residual=residual).double()
    _randomize(module, seed)
    categorical, numeric = _inputs(seed=seed)
    torch.testing.assert_close(module(categorical, numeric),
                               _adatt_reference(module, categorical, numeric),
                               rtol=1e-12, atol=1e-12)
    learned = residual and (task_experts != 1 or shared > 1)
    assert (module.levels[0].native_weight is not None) == learned


def test_adatt_shared_parameters():
    module = AdaTT(_embedding(), 2, num_task_experts=2, num_shared_experts=1, num_levels=2,
                   expert_hidden_units=(6,))
    # Every expert feeds every task; the last level's gates and native weights and the
    # towers are each task's own.
    own = {*module.towers.parameters(), *module.levels[-1].gates.parameters(),
           module.levels[-1].native_weight}
    assert {*module.shared_parameters()} == {*module.parameters()} - own
    # GradNorm's layer (its last shared parameter of two or more dimensions): the last
    # level's expert layer.
    last = [p for p in module.shared_parameters() if p.dim() >= 2][-1]
    assert any(last is p for p in module.levels[-1].experts[0].parameters())


# STEM -----------------------------------------------------------------------------------


def _stem_reference(module, categorical, numeric):
    """STEM's levels as the paper writes them, task by task: task t's gate, on its embedding
    plus the shared one, mixes its own and the shared experts and the other tasks' experts
    with their gradient stopped; the shared gate mixes all of them."""
    inputs = [embedding(categorical, numeric) for embedding in module.embeddings]
    n_tasks = module.n_tasks
    for level in module.levels:
        owner = level.task_of_expert.tolist()
        specific = [_member_mlp(level.specific_experts, e, inputs[t]) for e, t in enumerate(owner)]
        shared = [_member_mlp(level.shared_experts, e, inputs[-1])
                  for e in range(level.shared_experts.n_parallel)]
        outputs = []
        for t in range(n_tasks):
            seen = [e if owner[i] == t else e.detach() for i, e in enumerate(specific)] + shared
            gate = _member_gate(level.task_gates, t, inputs[t] + inputs[-1])
            outputs.append(_mix(gate, seen))
        if level.shared_gate is not None:
            outputs.append(_mix(_member_gate(level.shared_gate, 0, inputs[-1]), specific + shared))
        inputs = outputs
    return _towers(module.towers, inputs[:n_tasks])


def _grads(module, loss):
    module.zero_grad()
    loss.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


@settings(max_examples=25, deadline=None)
@given(n_tasks=st.integers(1, 3), specific=st.integers(1, 2), shared=st.integers(1, 2),
       levels=st.integers(1, 2), gate_hidden=st.sampled_from([(), (4,)]),
       seed=st.integers(0, 2**31 - 1))
def test_stem_is_the_papers_network_forward_and_backward(n_tasks, specific, shared, levels,
                                                         gate_hidden, seed):
    torch.manual_seed(seed)
    module = STEM(_embedding(), n_tasks, num_specific_experts=specific,
                  num_shared_experts=shared, num_levels=levels, expert_hidden_units=(5, 4),
                  gate_hidden_units=gate_hidden, tower_hidden_units=(3,)).double()
    _randomize(module, seed)
    categorical, numeric = _inputs(seed=seed)
    ours, reference = module(categorical, numeric), _stem_reference(module, categorical, numeric)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    # The gradients, stop-gradients included, of any mix of the task losses.
    task_weights = torch.randn(n_tasks, dtype=torch.float64)
    for got, expected in zip(_grads(module, (ours * task_weights).sum()),
                             _grads(module, (reference * task_weights).sum())):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_stem_task_loss_trains_only_its_own_and_the_shared_embedding():
    torch.manual_seed(0)
    module = STEM(_embedding(), 3, num_specific_experts=2, expert_hidden_units=(6,)).double()
    categorical, numeric = _inputs()
    tables = [e.table.weight for e in module.embeddings]
    experts = module.levels[0].specific_experts[0].weight  # (tasks * 2 experts, in, out)
    for task in range(3):
        grads = torch.autograd.grad(module(categorical, numeric)[:, task].sum(),
                                    [*tables, experts])
        for other, grad in enumerate(grads[:3]):
            assert (grad.abs().sum() > 0) == (other == task), (task, other)
        assert grads[3].abs().sum() > 0  # the shared embedding
        moved = grads[4].flatten(1).abs().sum(1) > 0
        assert moved.tolist() == [t == task for t in range(3) for _ in range(2)]


def test_stem_embeddings_are_drawn_apart_or_given():
    torch.manual_seed(0)
    shared = MixedInputEmbedding([4, 4], 3, 3, init_std=0.01)
    module = STEM(shared, 2, expert_hidden_units=(4,))
    tables = [e.table.weight for e in module.embeddings]
    assert module.embeddings[-1] is shared
    assert not torch.equal(tables[0], tables[1]) and not torch.equal(tables[0], tables[2])
    assert max(t.std().item() for t in tables) < 0.02  # the copies keep init_std
    given_embeddings = [_embedding() for _ in range(3)]
    module = STEM(given_embeddings, 2, expert_hidden_units=(4,))
    assert all(a is b for a, b in zip(module.embeddings, given_embeddings))
    with pytest.raises(ValueError, match="n_tasks \\+ 1 = 3 embeddings"):
        STEM(given_embeddings[:2], 2)
    with pytest.raises(ValueError, match="of out_features \\[9, 14\\]"):
        STEM([*given_embeddings[:2], MixedInputEmbedding([4], 3, 11)], 2)


def test_stem_shared_parameters():
    module = STEM(_embedding(), 2, num_specific_experts=2, num_shared_experts=1, num_levels=2,
                  expert_hidden_units=(6,))
    shared = module.shared_parameters()
    last = [p for p in shared if p.dim() >= 2][-1]
    assert any(last is p for p in module.levels[-1].shared_experts[0].parameters())
    assert {*shared}.isdisjoint({*module.embeddings[0].parameters(),
                                 *module.levels[0].specific_experts.parameters()})


# Both: the module contract --------------------------------------------------------------

MODULES = {
    "adatt_sp": lambda **kw: AdaTT(_embedding(), 2, num_task_experts=2, num_levels=2,
                                   expert_hidden_units=(6,), **kw),
    "adatt_shared": lambda **kw: AdaTT(_embedding(), 2, num_shared_experts=2, num_levels=2,
                                       expert_hidden_units=(6,), **kw),
    "stem": lambda **kw: STEM(_embedding(), 2, num_specific_experts=2, num_levels=2,
                              expert_hidden_units=(6,), gate_hidden_units=(4,), **kw),
}


@pytest.mark.parametrize("make", [
    lambda: AdaTT(_embedding(), 2, num_task_experts=2, num_shared_experts=1, num_levels=2),
    lambda: STEM(_embedding(), 2, num_specific_experts=2, num_shared_experts=1, num_levels=2),
], ids=["adatt", "stem"])
def test_gate_weights_per_level_and_of_the_tasks(make):
    module = make().double()
    categorical, numeric = _inputs()
    first, last = module.gate_weights(categorical, numeric)
    # 2 tasks x 2 experts + 1 shared; a shared gate below the last level only
    assert first.shape == (N_ROWS, 3, 5) and last.shape == (N_ROWS, 2, 5)
    torch.testing.assert_close(module.task_gate_weights(categorical, numeric), last)
    torch.testing.assert_close(last.sum(-1), torch.ones(N_ROWS, 2, dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_multiclass_widths_and_batch_norm(name):
    module = MODULES[name](output_widths=[1, 3], batch_norm=True, dropout=0.1).double()
    categorical, numeric = _inputs()
    assert module(categorical, numeric).shape == (N_ROWS, 4)
    module(categorical, numeric).sum().backward()
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_scripted_module_gives_the_eager_output(name):
    torch.manual_seed(0)
    module = MODULES[name]().eval()
    categorical, numeric = _inputs(6)
    numeric = numeric.float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module)
    torch.testing.assert_close(scripted(categorical, numeric), module(categorical, numeric))


# AdaTT-sp's level is AdaTT's with no shared experts: its export adds nothing but time.
@pytest.mark.parametrize("name", ["adatt_shared", "stem"])
def test_onnx_export_gives_the_eager_output(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    module = MODULES[name]().eval()
    categorical, numeric = _inputs(6)
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (categorical, numeric.float()), dynamo=True,
                                    verbose=False, dynamic_shapes=({0: batch}, {0: batch}))
    program.save(tmp_path / "module.onnx")
    session = ort.InferenceSession(str(tmp_path / "module.onnx"))
    categorical, numeric = _inputs(9, seed=1)  # another batch size than the export's
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, [categorical.numpy(), numeric.float().numpy()])))[0]
    expected = module(categorical, numeric.float()).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: AdaTT(_embedding(), 2, num_task_experts=0), "num_task_experts must be an integer >= 1"),
        (lambda: AdaTT(_embedding(), 2, num_shared_experts=-1), "num_shared_experts must be an integer >= 0"),
        (lambda: AdaTT(_embedding(), 2, expert_hidden_units=()), "expert_hidden_units must not be empty"),
        (lambda: STEM(_embedding(), 2, num_shared_experts=0), "num_shared_experts must be an integer >= 1"),
        (lambda: STEM(_embedding(), 2, expert_hidden_units=()), "expert_hidden_units must not be empty"),
    ],
)
def test_bad_parameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(MODULES)), rows=st.lists(st.integers(0, 11), min_size=1,
                                                             max_size=12))
def test_a_rows_output_does_not_depend_on_the_rest_of_its_batch(name, rows):
    # Any subset, order or repetition of the rows of a batch: the same rows, the same logits.
    torch.manual_seed(0)
    module = MODULES[name]().double().eval()
    categorical, numeric = _inputs(12)
    index = torch.tensor(rows)
    torch.testing.assert_close(module(categorical[index], numeric[index]),
                               module(categorical, numeric)[index], rtol=1e-12, atol=1e-12)
