import os

# torch's OpenMP threads spin-wait; on a small shared machine that collapses
# throughput whenever another process is busy. One thread per test process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

torch.set_num_threads(1)


def pytest_report_header(config):
    return [
        "sklearn_mtl: expected failures (xfail) are scikit-learn estimator checks that do not "
        "apply to a model, e.g. those fitting a single-task y, which the funnel models (ESMM, "
        "AITM) reject: they need two or more funnel steps. Skips are scikit-learn checks that "
        "skip themselves (no decision_function; array API checks without SCIPY_ARRAY_API=1) "
        "and tests needing what this machine may lack: the real-data samples in "
        "../shared/data, the full UCI census files, or a CUDA device (or its absence). Each "
        "reason is listed at the end of the run (-rsx)."
    ]
