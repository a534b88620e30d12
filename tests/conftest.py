import contextlib
import os
import random

import numpy as np
import pytest
import torch

# Tests never reach a model hub: every model comes from an installed package or is built here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Random inputs and tiny random models come from one fixed seed so CI is repeatable; set
# AGENTKIT_TEST_SEED to replay a failure or to sweep other seeds locally.
os.environ.setdefault("AGENTKIT_TEST_SEED", "20261128")


@pytest.fixture(autouse=True)
def _seeded_rngs():
    """Every test starts from the same global RNG state, whatever ran before it."""
    seed = int(os.environ["AGENTKIT_TEST_SEED"])
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def one_thread():
    """A context manager giving torch one thread, for session fixtures (model loads, indexing),
    which the autouse fixture below does not cover."""
    return _single_thread


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """On 2 shared, oversubscribed cores one torch thread is several times faster than two
    (spinning OpenMP threads get descheduled)."""
    with _single_thread():
        yield
