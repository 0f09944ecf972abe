"""The package's structure: no import cycles, no private reach-ins between modules, no benchmark code in the core."""

import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import architecture  # noqa: E402


def test_no_import_cycles():
    graph, _ = architecture.imports(str(ROOT))
    assert architecture.cycles(graph) == []
    assert len(graph) > 50  # the walk saw the packages


def test_no_module_reads_another_modules_private_names():
    _, private_imports = architecture.imports(str(ROOT))
    reads = [(m, e) for m, e, _ in architecture.private_reads(str(ROOT))]
    assert private_imports == [] and reads == []


def test_the_core_holds_no_benchmark_code():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "sdekit").rglob("*.py")
                 if "torchsde._brownian" in p.read_text() or p.name.startswith("bench")]
    assert offenders == []
