"""`python bench/timed_main.py STAMP ARGS...` is `python -m cnnexp ARGS...` with its library imports timed.

It imports torch, Lightning and Hydra first, under a clock, writes how long that took to STAMP, then runs
cnnexp exactly as `-m` does (runpy, as __main__). The start-up row subtracts this in-process import time
from the launch-to-first-step time of the same process: on a busy machine, an import timed in another
process can differ by seconds, and the difference would be noise, not cnnexp.
"""

import runpy
import sys
import time
from pathlib import Path

began = time.time()
import hydra  # noqa: E402,F401  (timed on purpose: the row subtracts these imports)
import pytorch_lightning  # noqa: E402,F401
import torch  # noqa: E402,F401

Path(sys.argv[1]).write_text(repr(time.time() - began))
sys.argv = ["cnnexp", *sys.argv[2:]]
runpy.run_module("cnnexp", run_name="__main__", alter_sys=True)
