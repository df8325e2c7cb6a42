"""The layers of docs/architecture.md hold: import-linter checks the contracts written in
pyproject.toml (imports point one way, no cycles, the domain does no I/O)."""

from pathlib import Path

from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_imports_point_one_way():
    assert lint_imports(config_filenames=(str(PYPROJECT),), no_cache=True) == 0
