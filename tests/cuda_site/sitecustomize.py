"""Started with every Python process of the test session (the folder is on PYTHONPATH): a test that set
CNNEXP_FAKE_CUDA gets the same fake GPUs in the processes it starts as in its own (fake_cuda.py)."""

import os

if os.environ.get("CNNEXP_FAKE_CUDA"):
    import fake_cuda

    fake_cuda.install_from_env()
