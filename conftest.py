import os

# torch's OpenMP threads spin-wait; on a small shared machine that collapses
# throughput whenever another process is busy. One thread per test process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

torch.set_num_threads(1)
