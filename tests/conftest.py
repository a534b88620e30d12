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
