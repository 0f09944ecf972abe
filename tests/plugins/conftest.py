"""Fixtures shared by the plugin tests."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small nets gain nothing from intra-op threads, and spinning OpenMP threads collapse under the
    load of concurrent test runs on a 2-core machine; restored afterwards for other modules."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
