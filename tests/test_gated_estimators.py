"""STEMClassifier and AdaTTClassifier, and what every gated estimator shares:
the balance penalty over every gate, gate dropout and expert health."""

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklearn_mtl import AdaTTClassifier, MMoEClassifier, PLEClassifier, STEMClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.export import transform_inputs
from sklearn_mtl.inspection import ExpertHealthDisplay
from sklearn_mtl.losses import GateBalancedLoss
from sklearn_mtl.nn import AdaTT, MixedInputEmbedding, ParallelMLP, STEM, SoftmaxGate, importance_cv2

from ._settings import FAST_PARAMS

GATED = [MMoEClassifier, PLEClassifier, STEMClassifier, AdaTTClassifier]


@pytest.fixture(scope="module")
def census():
    X, Y = load_census_income(return_X_y=True)
    return X[:1500], Y[:1500]


def _inputs(n=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 5, (n, 1), generator=generator),
            torch.randn(n, 3, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize("make", [
    lambda e: STEM(e, 2, num_specific_experts=2, num_levels=2, expert_hidden_units=(6,),
                   balance_gates=True),
    lambda e: AdaTT(e, 3, num_task_experts=2, num_shared_experts=1, num_levels=2,
                    expert_hidden_units=(6,), balance_gates=True),
], ids=["STEM", "AdaTT"])
def test_balance_penalty_is_the_mean_cv2_over_every_gate_of_every_level(make):
    torch.manual_seed(0)
    module = make(MixedInputEmbedding([5], 3, 4)).double()
    loss = GateBalancedLoss(balance_weight=0.5).bind(module)
    categorical, numeric = _inputs()
    weight = torch.rand(9, dtype=torch.float64)
    logits = module(categorical, numeric)
    gates = module.gate_weights(categorical, numeric)
    expected = 0.5 * torch.cat([importance_cv2(g, weight) for g in gates]).mean()
    torch.testing.assert_close(loss.penalty(logits, weight), expected)
    assert module._kept_gates is None  # read once, nothing left behind
    module.eval()
    module(categorical, numeric)
    assert module._kept_gates is None  # an eval pass keeps nothing


@pytest.mark.parametrize("Model", [STEMClassifier, AdaTTClassifier])
def test_a_fit_trains_the_balance_penalty_into_its_loss(census, Model):
    X, Y = census
    model = Model(gate_balance_weight=0.2, **FAST_PARAMS).fit(X[:600], Y[:600])
    criterion = model.net_.criterion_
    assert isinstance(criterion, GateBalancedLoss) and criterion.balance_weight == 0.2
    assert model.net_.module_.balance_gates
    assert not Model(**FAST_PARAMS).fit(X[:600], Y[:600]).net_.module_.balance_gates


@pytest.mark.parametrize("Model, params", [
    (STEMClassifier, {"mtl__num_levels": [1, 2]}),
    (AdaTTClassifier, {"mtl__num_shared_experts": [0, 1]}),
])
def test_pipeline_with_a_column_transformer_and_grid_search(census, Model, params):
    X, Y = census
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                             encoded_missing_value=-1)
    prep = ColumnTransformer(
        [("cat", encoder, make_column_selector(dtype_include="category")),
         ("num", StandardScaler(), make_column_selector(dtype_exclude="category"))],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    categorical = list(X.select_dtypes("category").columns)
    pipe = Pipeline([("prep", prep),
                     ("mtl", Model(categorical_features=categorical, **FAST_PARAMS))])
    search = GridSearchCV(pipe, params, cv=KFold(2)).fit(X, Y)
    assert search.best_score_ > 0.7
    model = search.best_estimator_[-1]
    assert model.is_categorical_.sum() == len(categorical)
    proba = search.predict_proba(X[:5])
    assert len(proba) == 2 and all(p.shape == (5, 2) for p in proba)
    weights = model.gate_weights(prep.fit(X).transform(X[:5]))
    np.testing.assert_allclose([w.sum(-1) for w in weights][-1], 1.0, rtol=1e-6)


@pytest.mark.parametrize("Model", GATED)
def test_history_records_the_gates_and_the_experts_health(census, Model):
    X, Y = census
    model = Model(**dict(FAST_PARAMS, max_epochs=2)).fit(X, Y)
    module = model.net_.module_
    # No validation split: the utilisation is measured on the training rows, all of them.
    inputs = transform_inputs(model, X)
    with torch.no_grad():
        task_gates = module.task_gate_weights(**inputs).double().numpy()
        if Model is PLEClassifier:  # its first level bypasses the groups' own forward
            x = module.embedding(**inputs)
            outputs = {"levels_0_specific_experts": module.levels[0].specific_experts(x),
                       "levels_0_shared_experts": module.levels[0].shared_experts(x)}
        else:
            outputs = {}
            hooks = [
                group.register_forward_hook(
                    lambda m, i, out, name=name.replace(".", "_"): outputs.__setitem__(name, out))
                for name, group in module.named_modules()
                if name.rpartition(".")[2].endswith("experts") and isinstance(group, ParallelMLP)
            ]
            module(**inputs)
            for hook in hooks:
                hook.remove()
    shares = task_gates.mean(0)
    last = model.history_[-1]
    for t, task in enumerate(model.task_names_):
        np.testing.assert_allclose(last[f"gate_shares_{task}"], shares[t], rtol=1e-5)
    columns = slice(model.num_specific_experts, None) if Model is PLEClassifier else slice(None)
    seen = shares[:, columns]
    np.testing.assert_allclose(last["expert_exclusivity"], seen.max(0) / seen.sum(0), rtol=1e-5)
    assert outputs
    for name, out in outputs.items():
        zero = (out == 0).double().numpy()
        np.testing.assert_allclose(last[f"expert_zero_share_{name}"], zero.mean((0, 2)),
                                   rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(last[f"expert_dead_share_{name}"], zero.all(0).mean(1),
                                   rtol=1e-6, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40), n_gates=st.integers(1, 4), n_experts=st.integers(1, 6),
    p=st.floats(0.0, 0.95), seed=st.integers(0, 2**31 - 1),
)
def test_gate_dropout_drops_experts_and_renormalises(n, n_gates, n_experts, p, seed):
    torch.manual_seed(seed)
    gate = SoftmaxGate(5, n_experts, n_gates, dropout=p).double()
    x = torch.randn(n, 5, dtype=torch.float64)
    softmax = torch.softmax(gate.linear(x), dim=-1)
    dropped = gate(x)
    # In training: each row sums to one over the kept experts, each kept weight the
    # softmax's rescaled by the kept mass; at least one expert is kept.
    torch.testing.assert_close(dropped.sum(-1), torch.ones(n, n_gates, dtype=torch.float64))
    kept = dropped > 0
    assert kept.any(-1).all()
    mass = (softmax * kept).sum(-1, keepdim=True)
    torch.testing.assert_close(dropped, torch.where(kept, softmax / mass, torch.zeros_like(softmax)))
    gate.eval()
    torch.testing.assert_close(gate(x), softmax)


def test_gate_dropout_drops_at_its_rate():
    torch.manual_seed(0)
    gate = SoftmaxGate(3, 8, 2, dropout=0.3)
    weights = gate(torch.randn(4000, 3))
    assert (weights == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="dropout"):
        SoftmaxGate(3, 8, 2, dropout=1.0)


@pytest.mark.parametrize("Model", GATED)
def test_gate_dropout_reaches_every_gate_and_only_trains(census, Model):
    X, Y = census
    X, Y = X[:600], Y[:600]
    model = Model(gate_dropout=0.25, **FAST_PARAMS).fit(X, Y)
    gates = [m for m in model.net_.module_.modules() if isinstance(m, SoftmaxGate)]
    assert gates and all(g.dropout == 0.25 for g in gates)
    # Prediction is deterministic (the full softmax), and training did change.
    np.testing.assert_array_equal(model.predict_proba_frame(X), model.predict_proba_frame(X))
    plain = Model(**FAST_PARAMS).fit(X, Y)
    assert not np.allclose(model.predict_proba_frame(X), plain.predict_proba_frame(X))
    with pytest.raises(ValueError, match="gate_dropout"):
        Model(gate_dropout=1.0).fit(X, Y)


@pytest.mark.parametrize("params, match", [
    ({"num_levels": 0}, "num_levels"),
    ({"expert_hidden_units": ()}, "expert_hidden_units"),
    ({"num_shared_experts": -1}, "num_shared_experts"),
])
@pytest.mark.parametrize("Model", [STEMClassifier, AdaTTClassifier])
def test_bad_parameters_are_named(census, Model, params, match):
    X, Y = census
    with pytest.raises(ValueError, match=match):
        Model(**params, max_epochs=1).fit(X[:100], Y[:100])


def test_expert_health_display_draws_every_expert_per_epoch(census):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X, Y = census
    prep = ColumnTransformer(
        [("num", StandardScaler(), make_column_selector(dtype_exclude="category"))],
        remainder="passthrough", verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = Pipeline([("prep", prep), ("mtl", STEMClassifier(num_levels=2, **FAST_PARAMS))])
    model = pipe.fit(X[:600], Y[:600])[-1]
    display = ExpertHealthDisplay.from_estimator(pipe)
    assert sorted(display.lines_["gate_entropy"]) == sorted(model.task_names_)
    # One level: task 0's, task 1's and the shared expert, at each of two levels.
    assert len(display.lines_["zero_share"]) == 6
    assert len(display.lines_["exclusivity"]) == 3
    line = display.lines_["zero_share"]["levels_1_shared_experts 0"]
    np.testing.assert_allclose(
        line.get_ydata(), [row["expert_zero_share_levels_1_shared_experts"][0] for row in model.history_])
    from sklearn_mtl import SharedBottomClassifier

    with pytest.raises(TypeError, match="no gates"):
        ExpertHealthDisplay.from_estimator(SharedBottomClassifier(**FAST_PARAMS).fit(X[:300], Y[:300]))
