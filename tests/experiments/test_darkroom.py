"""Smoke test of the whole Dark Room pipeline at toy size: every artefact made and well-formed."""

import json

import numpy as np
import pytest

from adjax.experiments import darkroom
from adjax.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("darkroom")
    results = run_experiment(darkroom.tiny(), out, preset="tiny", progress=False)
    return out, results


def test_every_artefact_is_produced(toy_run):
    out, results = toy_run
    for rel in ("experiment.json", "timings.json", "results.json", "summary.md",
                "figures/darkroom.png", "eval/test.json", "eval/train.json",
                "data/learning/manifest.json", "data/expert/manifest.json",
                "runs/ad/config.json", "runs/ad/metrics.jsonl", "runs/ed/config.json"):
        assert (out / rel).exists(), rel
    assert (out / "runs/ad/checkpoints").is_dir()
    assert json.loads((out / "data/expert/manifest.json").read_text())["kind"] == "expert"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"] == results["summary"]


def test_results_are_well_formed(toy_run):
    _, results = toy_run
    cfg = darkroom.tiny()
    test, train = results["curves"]["test"], results["curves"]["train"]
    for method in ("AD", "ED", "source", "random"):
        per_seed = np.asarray(test[method]["per_seed"])
        test_eval = cfg.eval.splits[0]
        assert per_seed.shape == (test_eval.num_seeds, test_eval.num_episodes), method
        assert np.all((per_seed >= 0) & (per_seed <= 20))
        assert test[method]["num_tasks"] == 16
    assert np.asarray(train["AD"]["per_seed"]).shape == (1, cfg.eval.splits[1].num_episodes)
    assert train["AD"]["num_tasks"] == 65
    assert 0 < test["optimal"] <= 20
    assert "| test | AD |" in (results and open(toy_run[0] / "summary.md").read())


def test_rerun_reuses_every_stage(toy_run, capsys):
    out, results = toy_run
    again = run_experiment(darkroom.tiny(), out, preset="tiny", progress=False)
    assert again["curves"] == results["curves"]
    printed = capsys.readouterr().out
    assert printed.count("already complete, reused") == 6


def test_mixing_configs_in_one_directory_is_refused(toy_run):
    import dataclasses

    out, _ = toy_run
    other = dataclasses.replace(darkroom.tiny(), expert_episodes=3)
    with pytest.raises(ValueError, match="expert_episodes"):
        run_experiment(other, out, progress=False)
