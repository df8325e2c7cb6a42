"""The wheel a user installs holds every package and data file of the tree: a package missing
from it imports fine here (pytest puts the repository root on sys.path) and fails for every
user of the installed `karma` script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_INSTALLED = {"tests", "bench", "examples"}  # run from a checkout, never installed


def tracked_files() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    return [Path(name) for name in listed if name and (ROOT / name).is_file()]


def package_dirs(files: list[Path]) -> set[Path]:
    return {f.parent for f in files if f.name == "__init__.py"
            and f.parts[0] not in NOT_INSTALLED}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    source = tmp_path_factory.mktemp("source")
    for name in tracked_files():  # a copy, so the build never writes into the checkout
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(out), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("karma_ledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_every_package_of_the_tree_is_in_the_wheel(wheel_names):
    packages = package_dirs(tracked_files())
    assert {Path("domain"), Path("handlers"), Path("knowledge")} <= packages
    missing = sorted(str(p) for p in packages if f"{p.as_posix()}/__init__.py" not in wheel_names)
    assert missing == []


def test_every_tracked_file_inside_a_package_is_in_the_wheel(wheel_names):
    files = tracked_files()
    packages = package_dirs(files)
    inside = [f for f in files if f.parent in packages]
    assert any(f.suffix == ".sql" for f in inside)  # the migrations are data files
    missing = sorted(f.as_posix() for f in inside if f.as_posix() not in wheel_names)
    assert missing == []


def test_tests_and_benchmarks_stay_out_of_the_wheel(wheel_names):
    assert not {name.split("/")[0] for name in wheel_names} & NOT_INSTALLED
