import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny ops on 2 shared cores: one intra-op thread avoids OpenMP spin contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
