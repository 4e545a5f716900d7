"""Which DDP rank was lost (train/launch.py `Ranks`): a collective fails as soon as a killed peer's socket closes,
before that peer's exit status can be read; the error then waits for the rank to end, and names it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from cnnexp.train.launch import Ranks

GLOO_RESET = RuntimeError("[gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:2737: Connection reset by peer.")


@pytest.fixture
def rank1() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def test_a_dropped_connection_waits_for_the_rank_that_is_dying(rank1: subprocess.Popen[bytes]) -> None:
    threading.Timer(0.3, rank1.send_signal, [signal.SIGKILL]).start()  # still alive when the error arrives
    assert Ranks([rank1]).lost(GLOO_RESET) == f"DDP rank 1 (pid {rank1.pid}) was killed by SIGKILL"


def test_another_error_is_not_put_on_a_rank_that_lives(rank1: subprocess.Popen[bytes]) -> None:
    assert Ranks([rank1]).lost(ValueError("a bug in rank 0")) == ""  # at once: no wait for an unrelated error
    assert Ranks([rank1]).lost(GLOO_RESET, wait_s=0.2) == ""  # the peers all live: the error is rank 0's own


def test_without_ranks_nothing_is_lost() -> None:
    assert Ranks([]).lost(GLOO_RESET) == ""
