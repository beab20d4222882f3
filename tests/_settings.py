"""Estimator settings shared by the tests."""

# float64 + plain SGD: weighting a row by k then equals repeating it k times to
# rounding, which scikit-learn's sample-weight check compares at rtol=1e-7
# (Adam rescales near-zero gradient noise into full steps, float32 rounds).
CHECK_PARAMS = dict(
    max_epochs=30, optimizer="sgd", lr=0.1, batch_size=64, dtype="float64", random_state=0
)

#: Quick training for behaviour tests.
FAST_PARAMS = dict(max_epochs=3, batch_size=256, random_state=0, early_stopping=False)
