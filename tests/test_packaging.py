"""The package installs outside the repository: the wheel holds `adjax` and nothing else of the
checkout (no tests, data, runs, experiment outputs or notebooks); slow: a fresh virtualenv installs
the wheel and runs an experiment end to end from another directory."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import adjax

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "adjax"
# Checkout content that must never reach the wheel; decoys of it are planted in the copy we build.
DECOYS = ("runs/darkroom/runs/ad/seed0/metrics.jsonl", "data/darkroom-q/obs.npy",
          "experiments/mine/results.json", "logs/run.log")


def _checkout_copy(dest: Path) -> Path:
    """The tracked files of this checkout (git ls-files, else the tree minus caches) and decoys,
    so the build neither writes into the checkout nor depends on what happens to lie in it."""
    try:
        files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True,
                               capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files:
        for rel in filter(None, files):
            if (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
    else:
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "data", "build", "__pycache__", "*.egg-info"))
    for rel in DECOYS:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(b"decoy")
    return dest


def _setuptools_version() -> tuple[int, ...]:
    out = subprocess.run([sys.executable, "-c", "import setuptools; print(setuptools.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(p) for p in out.strip().split(".")[:2] if p.isdigit())


def build_wheel(tmp: Path) -> Path:
    """`pip wheel --no-deps --no-build-isolation` of a copy of the checkout -> the .whl path.
    No network: the build backend is the environment's setuptools (the dev extra pins >= 77,
    the version pyproject's build-system asks for)."""
    if _setuptools_version() < (77,):
        pytest.fail(f"setuptools {'.'.join(map(str, _setuptools_version()))} cannot build adjax "
                    "(pyproject's build-system requires setuptools>=77; the dev extra installs "
                    "it: `make install`)")
    project = _checkout_copy(tmp / "checkout")
    out = tmp / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(project)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("adjax-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("pkg"))


def test_wheel_holds_the_package_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"adjax"}, sorted(top)
    # every module of the package, no other file
    modules = {f"adjax/{p.relative_to(SRC).as_posix()}" for p in SRC.rglob("*.py")}
    in_wheel = {n for n in names if n.startswith("adjax/")}
    assert in_wheel == modules, (sorted(modules - in_wheel), sorted(in_wheel - modules))
    assert "adjax/data/external.py" in in_wheel and "adjax/experiments/darkroom.py" in in_wheel
    for n in names:
        assert "tests/" not in n and "/runs/" not in n and not n.startswith("experiments/"), n
        assert not n.endswith((".npy", ".npz", ".png", ".ipynb", ".jsonl", ".log")), n


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "Name: adjax" in meta
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines()
                if ln.startswith("Requires-Dist:")]
    for dep in ("jax", "flax", "gymnax", "orbax-checkpoint", "scipy", "matplotlib"):
        assert any(r.startswith(dep) for r in requires), (dep, requires)


@pytest.mark.slow
def test_fresh_venv_runs_an_experiment_outside_the_checkout(wheel, tmp_path):
    """A new virtualenv, the wheel and its dependencies from the package index (no checkout on
    the path), then the tiny Dark Room experiment from an unrelated directory."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the checkout
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    py = venv / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           str(wheel)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import adjax; print(adjax.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    proc = subprocess.run([str(py), "-m", "adjax.experiments.darkroom", "--preset", "tiny",
                           "--out", str(work / "out")], cwd=work, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / "out" / "results.json").read_text())
    assert results["code"] == f"adjax {adjax.__version__}"  # no checkout: the package's version
    assert (work / "out" / "figures" / "darkroom.png").exists()
