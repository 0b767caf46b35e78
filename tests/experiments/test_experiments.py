"""Smoke tests of the bandit, Dark Room Hard and Key-to-Door experiments and of `make reproduce`
at toy size: every artefact made and well-formed, the report written from the published runs.

`make test` builds the bandit's tiny run only (its RL², scores and arm-choice stages are its own);
Dark Room Hard and Key-to-Door run the Dark Room pipeline (tests/experiments/test_darkroom.py) on
other grids, so their tiny runs (about 70 s each on a 2-core CPU) are `make test-slow`'s."""

import dataclasses
import json

import numpy as np
import pytest

from adjax.atomic import read_json, write_json
from adjax.experiments import bandit, darkroom_hard, key_to_door, reproduce, watermaze
from adjax.experiments.common import code_version
from adjax.experiments.runner import run_experiment
from adjax.report import choices

MODULES = {"bandit": bandit, "darkroom_hard": darkroom_hard, "key_to_door": key_to_door}
SLOW = {"darkroom_hard", "key_to_door"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(root, run): run(name) is that experiment's tiny results, built on first use for this
    module in root/name (where `reproduce --preset tiny` looks)."""
    root, done = tmp_path_factory.mktemp("runs") / "tiny", {}

    def run(name):
        if name not in done:
            done[name] = run_experiment(MODULES[name].tiny(), root / name, preset="tiny",
                                        progress=False)
        return done[name]
    return root, run


def _names(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", _names(MODULES))
def test_artefacts_and_shapes(runs, name):
    root, run = runs
    cfg, res, out = MODULES[name].tiny(), run(name), root / name
    for rel in ("experiment.json", "timings.json", "results.json", "summary.md",
                f"figures/{name}.png", "figures/source_learning_curve.png",
                "data/learning/manifest.json", "data/expert/manifest.json"):
        assert (out / rel).exists(), rel
    assert set(res["curves"]) == {se.split for se in cfg.eval.splits}
    for se in cfg.eval.splits:
        ad = np.asarray(res["curves"][se.split]["AD"]["per_seed"])
        assert ad.shape == (se.num_seeds, se.num_episodes)
        assert res["curves"][se.split]["AD"]["num_tasks"] == se.num_tasks
        assert np.all(ad >= 0) and np.all(ad <= (2 if name == "key_to_door" else 1))
    drawn = (out / f"figures/{name}_paths.png").exists(), (out / f"figures/{name}_episodes.gif")
    assert drawn[0] == (name != "bandit") == drawn[1].exists()  # trajectories: grid envs only
    assert (out / f"figures/{name}_choices.png").exists() == (name == "bandit")  # arm pulls
    manifest = json.loads((out / "data/learning/manifest.json").read_text())
    assert manifest["num_histories"] > 0
    assert len(manifest["task_ids"]) == cfg.num_train_tasks


def test_bandit_scores_every_split(runs):
    scores = runs[1]("bandit")["scores"]
    assert list(scores) == ["odd", "even", "uniform", "val"]
    for s in scores.values():
        assert 0 <= s["random_return"] <= 1 and 0 <= s["source_return"] <= 1
    assert (runs[0] / "bandit" / "figures" / "bandit_scores.png").exists()


def test_bandit_rl2_is_a_method_beside_ad(runs):
    """RL² is meta-trained per training seed and evaluated on every split with AD's tasks and
    evaluation seeds: its curve, score, summary and table rows sit beside AD's, and its random
    curve (not kept) would be AD's bit for bit (the same keys)."""
    root, run = runs
    res, out, cfg = run("bandit"), root / "bandit", bandit.tiny()
    for se in cfg.eval.splits:
        methods = res["curves"][se.split]
        assert list(methods)[:3] == ["AD", "ED", "RL2"]  # trained methods, then the baselines
        rl2 = np.asarray(methods["RL2"]["per_seed"])
        assert rl2.shape == (se.num_seeds, se.num_episodes) and np.all((rl2 >= 0) & (rl2 <= 1))
        assert len(methods["RL2"]["per_train_seed"]) == cfg.train_seeds
        ours = read_json(out / "eval" / se.split / "rl2_seed0.json")
        theirs = read_json(out / "eval" / se.split / "seed0.json")
        assert ours["splits"][se.split]["tasks"] == theirs["splits"][se.split]["tasks"]
        assert "RL2" in res["scores"][se.split] and f"RL2 {se.split}" in res["summary"]
    assert ours["rl2"]["update"] == cfg.rl2.num_updates
    summary = (out / "summary.md").read_text()
    assert "| RL² | paper RL² |" in summary and "| odd | RL² |" in summary
    steps = cfg.rl2.num_updates * cfg.rl2.num_trials * cfg.rl2.unroll
    assert res["rl2"]["env_steps"] == steps and f"for {steps:,} env steps" in summary
    before = (out / "eval" / "odd" / "rl2_seed0.json").stat().st_mtime_ns
    run_experiment(cfg, out, preset="tiny", progress=False)  # every stage reused
    assert (out / "eval" / "odd" / "rl2_seed0.json").stat().st_mtime_ns == before


def test_bandit_choices_are_the_evaluated_pulls(runs, capsys, tmp_path):
    """AD seed 0's pulls on task 0 of odd and even, with evaluation seed 0's key: its rewards are
    that pair's evaluated returns; the picture is in summary.md and reused while unchanged."""
    runs[1]("bandit")
    out = runs[0] / "bandit"
    record = read_json(out / "figures" / "bandit_choices.json")
    assert record["pulls"] == 20 and record["splits"] == ["odd", "even"]
    for split in ("odd", "even"):
        rec = record["records"][split]
        evaluated = read_json(out / "eval" / split / "seed0.json")["splits"][split]
        assert rec["rewards"] == evaluated["curves"]["agent"]["returns"][0][0]
        assert rec["task"] == np.round(evaluated["tasks"][0], 6).tolist()
        assert len(rec["actions"]) == 20 and set(rec["actions"]) <= set(range(10))
    assert "![bandit_choices](figures/bandit_choices.png)" in (out / "summary.md").read_text()
    before = (out / "figures" / "bandit_choices.png").stat().st_mtime_ns
    choices.main([str(out)])
    assert (out / "figures" / "bandit_choices.png").stat().st_mtime_ns == before  # reused
    assert "odd: best arm" in capsys.readouterr().out
    grid = tmp_path / "key_to_door"  # another env's experiment directory
    grid.mkdir()
    (grid / "experiment.json").write_text(json.dumps({"name": "key_to_door",
                                                      "env": "key_to_door"}))
    with pytest.raises(SystemExit, match="arm-choice pictures are for the bandit"):
        choices.main([str(grid)])


# What a rerun of each tiny experiment reuses: 2 collections, AD and ED, per split one seed's and
# the baselines' evaluation; the bandit evaluates 4 splits and trains RL² (evaluated on each).
REUSED = {"bandit": 2 + 2 + 4 * 2 + 1 + 4, "darkroom_hard": 2 + 2 + 3 * 2,
          "key_to_door": 2 + 2 + 3 * 2}


@pytest.mark.parametrize("only", [("bandit",),
                                  pytest.param(tuple(MODULES), marks=pytest.mark.slow)])
def test_reproduce_reuses_runs_and_writes_the_report(runs, tmp_path, capsys, only):
    root, run = runs
    for name in only:
        run(name)
    capsys.readouterr()
    path = reproduce.main(reproduce.Args(preset="tiny", only=only, runs=root.parent,
                                         publish=tmp_path))
    assert capsys.readouterr().out.count("already complete, reused") == sum(
        REUSED[name] for name in only)
    report = path.read_text()
    assert path == tmp_path / "tiny" / "REPORT.md"
    for name in only:
        assert (tmp_path / "tiny" / name / "results.json").exists()
        assert f"## {name} (tiny preset)" in report
        assert not (tmp_path / "tiny" / name / "data").exists()  # no datasets published
    assert "| bandit | odd (seen)" in report
    assert "![bandit](bandit/figures/bandit_choices.png)" in report
    if "key_to_door" in only:
        assert "| key_to_door | held-out" in report
        assert "| darkroom_hard | held-out: 4 tasks × 2 seeds | source (Q-learning) |" in report
        assert (tmp_path / "tiny" / "key_to_door" / "figures" / "key_to_door_episodes.gif"
                ).exists()
        assert "![key_to_door](key_to_door/figures/key_to_door_paths.png)" in report
        assert "[key_to_door_episodes.gif](key_to_door/figures/key_to_door_episodes.gif)" in report


def test_unknown_experiment_is_refused_before_any_compute(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*bandit"):
        reproduce.main(reproduce.Args(preset="tiny", only=("nope",), runs=tmp_path,
                                      publish=tmp_path))
    assert not any(tmp_path.iterdir())


def test_shards_are_the_seeds_of_one_run_and_merge_into_it(runs, tmp_path, capsys):
    """Seed 1 run alone (`first_seed` 1) trains and evaluates exactly what a run of seeds 0-1
    does for its seed 1 (same bits); seed 0's run and seed 1's, published as shards, merge into
    that run's curves (per training seed exactly, the mean over them to results.json's
    rounding), summary, scores and pictures; shards of another configuration or of overlapping
    seeds are refused."""
    import shutil

    from adjax.experiments import shards

    root, run = runs
    run("bandit")
    cfg = bandit.tiny()
    seed0, whole = tmp_path / "seed0", tmp_path / "whole"
    shutil.copytree(root / "bandit", seed0)
    run_experiment(cfg, seed0, preset="tiny", progress=False)  # reused (or redone if changed)
    shutil.copytree(seed0, whole)
    full = run_experiment(dataclasses.replace(cfg, train_seeds=2), whole, preset="tiny",
                          progress=False)
    one = run_experiment(dataclasses.replace(cfg, first_seed=1), tmp_path / "seed1",
                         preset="tiny", progress=False)
    assert one["first_seed"] == 1 and "first_seed" not in full
    assert "first_seed" not in cfg.to_dict()  # experiment.json of unsharded runs unchanged
    assert not (tmp_path / "seed1" / "figures" / "bandit_choices.png").exists()  # seed 0's
    for split in ("odd", "even"):
        for name in ("seed1", "rl2_seed1"):
            a = read_json(tmp_path / "seed1" / "eval" / split / f"{name}.json")["splits"][split]
            b = read_json(whole / "eval" / split / f"{name}.json")["splits"][split]
            assert a["curves"] == b["curves"], (split, name)

    dest = tmp_path / "published"
    shards.add(tmp_path / "seed1", dest)
    merged = shards.add(seed0, dest)
    assert merged["train_seeds"] == 2 and merged["train_seed_indices"] == [0, 1]
    for split, methods in full["curves"].items():
        for method, m in methods.items():
            got = merged["curves"][split][method]
            if isinstance(m, dict) and "per_train_seed" in m:
                assert got["per_train_seed"] == m["per_train_seed"], (split, method)
                np.testing.assert_allclose(got["per_seed"], m["per_seed"], atol=1e-4)
            else:
                assert got == m, (split, method)
    assert set(merged["summary"]) == set(full["summary"])
    assert merged["summary"]["AD odd"]["interval_over"] == "training"
    np.testing.assert_allclose(merged["scores"]["odd"]["AD"]["per_seed"],
                               full["scores"]["odd"]["AD"]["per_seed"], atol=1e-3)
    for rel in ("results.json", "summary.md", "experiment.json", "figures/bandit.png",
                "figures/bandit_choices.png", "shards/seed0/results.json",
                "shards/seed1/results.json"):
        assert (dest / rel).exists(), rel
    assert read_json(dest / "experiment.json")["train_seeds"] == 2
    summary = (dest / "summary.md").read_text()
    assert "Merged from the shards" in summary and one["command"] in summary
    assert shards.merge(dest)["curves"] == merged["curves"]  # again from the committed shards
    assert [sh["code"] for sh in merged["shards"]] == [code_version()] * 2
    assert code_version().startswith("git ")  # this checkout's commit
    r1 = read_json(dest / "shards" / "seed1" / "results.json")
    write_json(dest / "shards" / "seed1" / "results.json", {**r1, "code": "git 0123456789ab"},
               indent=None, checksum=True)
    capsys.readouterr()
    assert shards.merge(dest)["shards"][1]["code"] == "git 0123456789ab"
    assert "shards ran different code" in capsys.readouterr().out
    # A seed-free curve that differs: an error from one kind of machine, a recorded warning
    # (the first shard's kept) from two.
    r1 = read_json(dest / "shards" / "seed1" / "results.json")
    random = r1["curves"]["odd"]["random"]
    moved = {**random, "per_seed": (np.asarray(random["per_seed"]) + 0.5).tolist()}
    r1["curves"]["odd"]["random"] = moved
    write_json(dest / "shards" / "seed1" / "results.json", r1, indent=None, checksum=True)
    with pytest.raises(ValueError, match="random on odd differs from the first shard's"):
        shards.merge(dest)
    write_json(dest / "shards" / "seed1" / "results.json", {**r1, "machine": "another CPU"},
               indent=None, checksum=True)
    again = shards.merge(dest)
    assert again["curves"]["odd"]["random"] == merged["curves"]["odd"]["random"]
    (line,) = again["seed_free_differences"]
    assert line.startswith("seed1: random on odd differs") and "by up to 0.5" in line
    assert "another CPU" in line and "warning:" in capsys.readouterr().out

    other = tmp_path / "other"
    shutil.copytree(tmp_path / "seed1", other)
    exp = read_json(other / "experiment.json")
    write_json(other / "experiment.json", {**exp, "num_train_tasks": 8})
    with pytest.raises(ValueError, match="field 'num_train_tasks' differs"):
        shards.add(other, dest)
    assert read_json(dest / "shards" / "seed1" / "experiment.json") == read_json(
        tmp_path / "seed1" / "experiment.json")  # the refused run replaced nothing
    both = tmp_path / "both"
    shutil.copytree(whole, both)
    with pytest.raises(ValueError, match=r"seeds \[0, 1\] overlap"):
        shards.add(both, dest)


def test_changed_evaluation_reruns_only_evaluation(runs, capsys):
    """Another number of evaluation episodes (twice as many: a whole number of context
    refreshes): training and data are reused, the evaluation redone; another model is still
    refused with the field named."""
    root, run = runs
    run("bandit")
    capsys.readouterr()
    cfg = bandit.tiny()
    splits = tuple(dataclasses.replace(se, num_episodes=2 * se.num_episodes)
                   for se in cfg.eval.splits)
    longer = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, splits=splits))
    res = run_experiment(longer, root / "bandit", preset="tiny", progress=False)
    out = capsys.readouterr().out
    assert "evaluation settings changed" in out
    assert out.count("already complete, reused") == 5  # collect x2, train AD, ED and RL²
    assert "evaluate odd tasks, AD and ED seed 0" in out
    ad = np.asarray(res["curves"]["odd"]["AD"]["per_seed"])
    assert ad.shape[1] == splits[0].num_episodes
    # how the learners run (task_batch) is not what they compute: everything is reused
    grouped = run_experiment(dataclasses.replace(longer, task_batch=2), root / "bandit",
                             preset="tiny", progress=False)
    assert "[evaluate odd tasks, AD and ED seed 0] already complete" in capsys.readouterr().out
    assert grouped["curves"] == res["curves"]
    wider = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_model=32))
    with pytest.raises(ValueError, match="field 'model' differs"):
        run_experiment(wider, root / "bandit", preset="tiny", progress=False)


def test_sampling_temperature_and_seeds_must_be_positive():
    from adjax.experiments.common import EvalConfig

    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        EvalConfig(temperature=0.0)
    with pytest.raises(ValueError, match="train_seeds must be >= 1, got 0"):
        dataclasses.replace(bandit.tiny(), train_seeds=0)


def test_env_settings_are_recorded_only_where_set():
    """experiment.json of a default env is what it was before env_config existed; a set one is
    kept sorted and handed to collection and evaluation as make kwargs."""
    cfg = key_to_door.tiny()
    assert "env_config" not in cfg.to_dict() and cfg.env_kwargs == {}
    wm = dataclasses.replace(cfg, env_config={"width": 32, "height": 24})
    assert wm.env_config == (("height", 24), ("width", 32)) and hash(wm)
    assert wm.to_dict()["env_config"] == {"height": 24, "width": 32}


def test_task_batch_is_recorded_only_where_set():
    cfg = key_to_door.tiny()
    assert "task_batch" not in cfg.to_dict()
    assert dataclasses.replace(cfg, task_batch=4).to_dict()["task_batch"] == 4
    with pytest.raises(ValueError, match="task_batch must be >= 1 or None, got 0"):
        dataclasses.replace(cfg, task_batch=0)


def test_code_version_is_the_checkout_a_run_started_from(monkeypatch):
    """Read once per process (run_experiment reads it first): a commit made while a long run
    trains is not recorded as the code it ran."""
    import subprocess

    first = code_version()

    def no_git(*args, **kwargs):
        raise AssertionError("the checkout was read again")
    monkeypatch.setattr(subprocess, "run", no_git)
    assert code_version() == first


def test_a_half_configured_state_loss_is_refused_before_anything_runs(tmp_path):
    """The auxiliary state loss on AD's training but not on ED's (which shares the model and
    its read-out) stops before the directory is made, not after AD has trained."""
    t = watermaze.tiny()
    cfg = dataclasses.replace(t, model=dataclasses.replace(t.model, state_head=4),
                              train_ad=dataclasses.replace(t.train_ad, state_loss=1.0))
    with pytest.raises(ValueError, match="needs both"):
        run_experiment(cfg, tmp_path / "out", preset="tiny", progress=False)
    assert not (tmp_path / "out").exists()
