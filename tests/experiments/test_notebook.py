"""Every notebook under experiments/notebooks executes top to bottom (tiny setting) so none can rot.

The kernel gets this checkout's `src` first on its PYTHONPATH: the notebooks are checked against
the code beside them, not against whatever adjax is installed.
"""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "experiments" / "notebooks"

# What each notebook must leave behind in its working directory (beyond running without error).
PRODUCTS = {
    "quickstart": ["runs/notebook/figures/darkroom.png"],
    "your_histories": ["data/my-histories/manifest.json", "data/my-histories/learning_curve.png",
                       "runs/my-ad/config.json"],
    "your_environment": ["data/corridor/manifest.json", "data/corridor/learning_curve.png",
                         "runs/corridor-ad/config.json"],
    # with no trained run at hand it trains one (runs/inside-ad) before looking inside it
    "inside_ad": ["runs/inside-ad/ad/config.json", "figures/inside_ad_paths.png",
                  "figures/inside_ad_episodes.gif"],
}


def test_every_notebook_is_tested():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(PRODUCTS)


def _this_checkout_first(monkeypatch) -> None:
    """Kernels started from now on import adjax from this checkout's src."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))


def _execute(nb, cwd: Path, timeout: int = 600) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def run_notebook(name: str, cwd: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("ADJAX_NOTEBOOK_SIZE", "tiny")
    _this_checkout_first(monkeypatch)
    return _execute(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4), cwd)


def cell_outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def printed_text(nb) -> str:
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell_outputs(nb))


# Over the 40 s a notebook may take at the tiny size on a 2-core CPU alone (mostly compiling: the
# model's eager initialisation, the train step, the in-context scan): run by `make test-slow`;
# `make test` runs their first part instead, up to the dataset (test_notebook_first_part), and
# quickstart and inside_ad on a run trained already (test_darkroom's last tests).
SLOW = {"quickstart", "your_environment", "your_histories", "inside_ad"}
# The dataset each slow notebook's first part writes: directory, env, source, histories, episodes.
DATASETS = {"your_histories": ("data/my-histories", "darkroom", "numpy-q-learning", 4, 6),
            "your_environment": ("data/corridor", "dark-corridor", "qlearning", 3, 6)}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(PRODUCTS)])
def test_notebook_runs(name, tmp_path, monkeypatch):
    nb = run_notebook(name, tmp_path, monkeypatch)
    outputs = cell_outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    for product in PRODUCTS[name]:
        assert (tmp_path / product).exists(), product
    # Colab-ready: the first code cell installs adjax, only when it is not importable.
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "find_spec(\"adjax\") is None" in first.source and "pip" in first.source
    if name == "your_histories":
        m = json.loads((tmp_path / "data/my-histories/manifest.json").read_text())
        assert (m["env"], m["source"], m["num_tasks"]) == ("darkroom", "numpy-q-learning", 4)
    if name in ("your_histories", "your_environment"):
        text = printed_text(nb)
        assert "AD: episode 1" in text and "last episode" in text
    if name == "your_environment":
        m = json.loads((tmp_path / "data/corridor/manifest.json").read_text())
        assert (m["env"], m["source"], m["env_config"]["obs_dims"]) == (
            "dark-corridor", "qlearning", [21])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_notebook_first_part(name, tmp_path, monkeypatch):
    """A slow notebook up to its training cell: the learning histories (a numpy learner's, or an
    adjax source's on the user-written environment) and the dataset they make."""
    monkeypatch.setenv("ADJAX_NOTEBOOK_SIZE", "tiny")
    _this_checkout_first(monkeypatch)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cut = next(i for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and "fit(" in c.source)
    nb.cells = nb.cells[:cut]
    _execute(nb, tmp_path)
    assert not [o for o in cell_outputs(nb) if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in cell_outputs(nb))  # the learning curve
    path, env, source, histories, episodes = DATASETS[name]
    m = json.loads((tmp_path / path / "manifest.json").read_text())
    assert (m["env"], m["source"], m["num_histories"]) == (env, source, histories)
    assert f"{histories} histories of {episodes} episodes" in printed_text(nb)
    assert (tmp_path / path / "learning_curve.png").exists()


# The slow notebooks `make test` runs on test_darkroom's trained run instead of a first part.
ON_A_TRAINED_RUN = {"quickstart", "inside_ad"}


def test_slow_notebooks_have_a_first_part():
    assert set(DATASETS) | ON_A_TRAINED_RUN == SLOW and SLOW <= set(PRODUCTS)
    import test_darkroom  # where they run: one test each

    assert all(hasattr(test_darkroom, f"test_{n}_notebook_on_this_run") for n in ON_A_TRAINED_RUN)


def test_kernel_imports_this_checkout(tmp_path, monkeypatch):
    """The PYTHONPATH given to notebook kernels puts this checkout's adjax first."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import adjax; print(adjax.__file__)")])
    monkeypatch.setenv("PYTHONPATH", "/nonexistent")  # kept, but after this checkout
    _this_checkout_first(monkeypatch)
    _execute(nb, tmp_path, timeout=120)
    assert printed_text(nb).strip() == str(ROOT / "src" / "adjax" / "__init__.py")
