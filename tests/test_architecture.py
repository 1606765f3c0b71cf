"""The parts import in one direction (docs/architecture.md): a module may import its own layer and the layers
below it, never one above. Every import counts, also those inside functions and under TYPE_CHECKING."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# lowest first; a module's layer is the first prefix that matches its dotted name
LAYERS = [
    ("base", ["pipeline.errors", "pipeline.io", "pipeline.settings", "pipeline.config", "pipeline.overrides",
              "pipeline.months", "pipeline.metrics", "pipeline.theta", "pipeline.domains", "pipeline.workspace",
              "pipeline"]),
    ("data", ["pipeline.data"]),
    ("model", ["pipeline.model"]),
    ("scoring", ["pipeline.scoring"]),
    ("ops", ["pipeline.ops"]),
    ("steps", ["pipeline.flow", "pipeline.steps"]),
    ("entry points", ["pipeline.cli", "pipeline.__main__", "pipeline.dagkit", "pipeline.worker", "dags"]),
]


def layer_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "pipeline"):
            return rank
    if module == "pipeline":
        return 0
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the project's own modules in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "pipeline"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
            # `from pipeline import steps` imports the module pipeline.steps
            found += [(node.lineno, f"{node.module}.{a.name}" if node.module == "pipeline" else node.module)
                      for a in node.names]
    return found


SOURCES = sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "dags").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers(path):
    here = module_name(path)
    wrong = [f"line {line}: {target} ({LAYERS[layer_of(target)][0]})" for line, target in imported(path)
             if layer_of(target) > layer_of(here)]
    assert not wrong, f"{here} ({LAYERS[layer_of(here)][0]}) imports a layer above it: {wrong}"


def test_the_check_sees_an_import_against_the_layers(tmp_path):
    """The rule can fail: a data module that imports scoring, inside a function, is caught."""
    bad = ROOT / "pipeline" / "data" / "features.py"
    source = tmp_path / "features.py"
    source.write_text(bad.read_text() + "\n\ndef leak():\n    from pipeline.scoring import backtest\n")
    targets = [target for _, target in imported(source)]
    assert "pipeline.scoring" in targets and layer_of("pipeline.scoring") > layer_of(module_name(bad))


def test_every_module_has_a_test_module():
    """Tests mirror the package: pipeline/x/y.py is tested in tests/pipeline/x/test_y.py."""
    missing = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        if path.name.startswith("__") or path.name == "mlflow_model.py":  # mlflow_model: MLflow's entry point
            continue
        mirror = ROOT / "tests" / path.relative_to(ROOT).parent / f"test_{path.name}"
        if path.relative_to(ROOT).parts[:2] == ("pipeline", "cli.py"):
            mirror = ROOT / "tests" / "test_cli.py"
        if not mirror.exists():
            missing.append(str(mirror.relative_to(ROOT)))
    assert not missing, f"library modules without a test module: {missing}"
