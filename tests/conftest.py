"""Shared pytest configuration: ``--runslow`` enables tests marked ``slow``."""

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow statistical tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch on one thread for a test module of tiny problems (tens of paths), where thread hand-offs dominate."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cache_across_processes(tmp_path):
    """Run a child script twice with scale 1 and once with scale 2 in fresh processes sharing one cache.

    ``check(source)`` formats ``{scale}`` into ``source`` (a script whose last line of output is a JSON object
    with ``cache``, ``seconds`` and ``mean``), asserts the second run loads the first's machine code (a cache
    hit, compile time under 0.3x the first's, the same answer) and the scale-2 run compiles anew (a global
    array the functions read is part of the key: never stale code); returns the three results.
    """
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, SDEKIT_CACHE_DIR=str(tmp_path))

    def run(source, scale):
        out = subprocess.run([sys.executable, "-c", source.format(scale=scale)], capture_output=True, text=True,
                             env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    def check(source):
        first, second = run(source, 1.0), run(source, 1.0)
        assert first["cache"] == "miss" and second["cache"] == "hit"
        assert second["seconds"] < 0.3 * first["seconds"]  # loading machine code, not compiling (~seconds)
        assert second["mean"] == first["mean"]
        other = run(source, 2.0)
        assert other["cache"] == "miss" and other["mean"] != first["mean"]
        return first, second, other

    return check
