"""The RL² section of REPORT.md (`adjax.report.rl2`) and what `adjax.rl2.publish` writes for it,
on synthetic published runs (no JAX)."""

import json

import pytest

from adjax.atomic import write_json
from adjax.report import rl2 as report
from adjax.report import rl2_bandit
from adjax.rl2.publish import compact, train_seconds

CFG = {"env": "darkroom-hard", "hidden": [64, 64], "num_trials": 4, "episodes_per_trial": 3,
       "unroll": 60, "num_updates": 10, "seed": 0, "log_every": 5, "ckpt_every": 5,
       "max_to_keep": 2}


def _result(seed: int, rl2_SxE, random_SxE, num_tasks=2, **cfg):
    curves = {"rl2": {"per_seed": rl2_SxE, "summary": {}},
              "random": {"per_seed": random_SxE, "summary": {}}}
    return {"env": "darkroom-hard", "num_episodes": 3, "num_seeds": len(rl2_SxE), "seed": 0,
            "rl2": {"config": {**CFG, "seed": seed, **cfg}, "update": 10, "env_steps": 2400},
            "splits": {"test": {"num_tasks": num_tasks, "curves": curves,
                                "optimal": {"mean": 0.9}}}}


def _publish(root, seed, result, seconds=60.0):
    d = root / "rl2" / "darkroom_hard" / f"seed{seed}"
    write_json(d / "results.json", result)
    write_json(d / "run.json", {"command": f"python -m adjax.rl2 --seed {seed}",
                                "machine": "test CPU", "update": 10, "env_steps": 2400,
                                "train_seconds": seconds})


def test_compact_averages_pairs_over_tasks_and_train_seconds_adds_records():
    res = {"splits": {"val": {"num_tasks": 2, "curves": {"rl2": {
        "returns": [[[1.0, 2.0]], [[3.0, 6.0]]], "summary": {"mean": [2.0, 4.0]}}}}}}
    out = compact(res)
    assert out["splits"]["val"]["curves"]["rl2"] == {"per_seed": [[2.0, 4.0]],
                                                     "summary": {"mean": [2.0, 4.0]}}
    assert "returns" in res["splits"]["val"]["curves"]["rl2"]  # the input is left alone
    # 5 updates of 240 steps at 1200/s, then 5 more at 600/s: 1 s + 2 s
    recs = [{"update": 5, "env_steps_per_s": 1200.0}, {"update": 10, "env_steps_per_s": 600.0}]
    assert train_seconds(recs, 240) == pytest.approx(3.0)


def test_section_reports_training_seed_intervals_beside_ad_and_the_paper(tmp_path):
    rnd = [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]]
    for seed, base in ((0, 0.2), (1, 0.4)):
        _publish(tmp_path, seed, _result(seed, [[base, base + 0.1, base + 0.2]] * 2, rnd),
                 seconds=90.0 * (seed + 1))
    ad = {"curves": {"test": {"AD": {"per_seed": [[0.0] * 9 + [0.5] * 11] * 2}}}}
    write_json(tmp_path / "darkroom_hard" / "results.json", ad)
    s = report.summary(report.load(tmp_path / "rl2" / "darkroom_hard"), "test")
    # two training seeds: trial means 0.3 and 0.5, interval over them (t, 1 dof: 12.71 x 0.1)
    assert s["interval_over"] == "training" and s["seeds"] == 2
    assert s["episode_1"] == pytest.approx(0.3) and s["last_episode"] == pytest.approx(0.5)
    assert s["trial_mean"] == pytest.approx(0.4)
    assert s["trial_mean_ci95"] == pytest.approx(12.706 * 0.1, abs=1e-3)
    assert s["random_trial_mean"] == pytest.approx(0.1) and s["train_minutes"] == [1.5, 3.0]
    lines = "\n".join(report.rl2_lines(tmp_path))
    assert "### darkroom_hard" in lines and "2,400 env steps per training seed" in lines
    # the paper's RL² line on the held-out split; AD at the trial's last episode, its last 10%
    row = next(ln for ln in lines.splitlines() if ln.startswith("| test"))
    assert "| 0.70 |" in row and "0.00 (ep 3)" in row and "0.50 (eps 19-20)" in row
    assert (tmp_path / "rl2" / "darkroom_hard" / "figures" / "rl2.png").stat().st_size > 0


def test_one_seed_uses_evaluation_seeds_and_mixed_configs_are_refused(tmp_path):
    _publish(tmp_path, 0, _result(0, [[0.2, 0.2, 0.2], [0.4, 0.4, 0.4]], [[0.1] * 3] * 2))
    s = report.summary(report.load(tmp_path / "rl2" / "darkroom_hard"), "test")
    assert s["interval_over"] == "evaluation" and s["trial_mean"] == pytest.approx(0.3)
    assert report.rl2_lines(tmp_path / "nothing") == []
    _publish(tmp_path, 1, _result(1, [[0.2] * 3] * 2, [[0.1] * 3] * 2, lr=0.1))
    with pytest.raises(ValueError, match="seed1: another RL² configuration"):
        report.load(tmp_path / "rl2" / "darkroom_hard")
    assert json.loads((tmp_path / "rl2" / "darkroom_hard" / "seed1" / "run.json").read_text())


def test_cli_prints_the_summary_and_draws(tmp_path, capsys):
    _publish(tmp_path, 0, _result(0, [[0.2, 0.3, 0.4]] * 2, [[0.1] * 3] * 2))
    out = report.main([str(tmp_path), "darkroom_hard"])
    assert out["test"]["last_episode"] == pytest.approx(0.4)
    assert (tmp_path / "rl2" / "darkroom_hard" / "figures" / "rl2.png").exists()
    with pytest.raises(SystemExit, match="no published RL² run"):
        report.main([str(tmp_path), "key_to_door"])


def test_training_tasks_row_beside_held_out_without_the_papers_line(tmp_path):
    # RL² far above on its training tasks (0.8) than on held-out ones (0.2): the train row shows
    # it, with AD's own training-task numbers; the paper's line belongs to the held-out row only
    res = _result(0, [[0.2] * 3] * 2, [[0.1] * 3] * 2)
    train = json.loads(json.dumps(res["splits"]["test"]))
    train["curves"]["rl2"]["per_seed"] = [[0.8] * 3] * 2
    train["num_tasks"] = 5
    res["splits"]["train"] = train
    _publish(tmp_path, 0, res)
    ad = {"curves": {"test": {"AD": {"per_seed": [[0.0] * 20] * 2}},
                     "train": {"AD": {"per_seed": [[0.3] * 20] * 2}}}}
    write_json(tmp_path / "darkroom_hard" / "results.json", ad)
    rows = [ln for ln in report.rl2_lines(tmp_path) if ln.startswith(("| test", "| train"))]
    assert [r.split(" (")[0] for r in rows] == ["| test", "| train"]
    test, train_row = rows
    assert "| 0.70 |" in test and "| 0.70 |" not in train_row
    assert train_row.startswith("| train (5 tasks)") and "0.80 ± " in train_row
    assert "0.30 (ep 3)" in train_row and "0.00 (ep 3)" in test


TF_CFG = {"env": "bandit", "network": "transformer", "tf_layers": 2, "tf_width": 64,
          "tf_heads": 2, "hidden": [64, 64], "num_trials": 4, "episodes_per_trial": 10,
          "unroll": 20, "num_updates": 10, "seed": 0, "log_every": 5, "ckpt_every": 5,
          "max_to_keep": 2}


def _bandit_seed(root, seed, rl2_SxE, random_SxE):
    curves = {"rl2": {"per_seed": rl2_SxE, "summary": {}},
              "random": {"per_seed": random_SxE, "summary": {}}}
    res = {"env": "bandit", "num_episodes": 10, "num_seeds": len(rl2_SxE), "seed": 0,
           "rl2": {"config": {**TF_CFG, "seed": seed}, "update": 10, "env_steps": 800},
           "splits": {"even": {"num_tasks": 100, "curves": curves}}}
    d = root / "rl2" / "bandit_transformer" / f"seed{seed}"
    write_json(d / "results.json", res)
    write_json(d / "run.json", {"command": f"python -m adjax.rl2 --env bandit --seed {seed}",
                                "machine": "test CPU", "update": 10, "env_steps": 800,
                                "train_seconds": 120.0})


def test_bandit_network_is_scored_against_the_experiments_random_and_ucb(tmp_path):
    # random 0.3 and UCB 0.5 per pull on even: seeds whose trial means are 0.4 and 0.6 score
    # 0.5 and 1.5; the first tenth of the trial (pull 1) is 0.2/0.4, the last tenth 0.6/0.8
    rnd = [[0.3] * 10] * 2
    for seed, base in ((0, 0.2), (1, 0.4)):
        _bandit_seed(tmp_path, seed, [[base + i * 0.4 / 9 for i in range(10)]] * 2, rnd)
    bandit = {"scores": {"even": {"random_return": 0.3, "source_return": 0.5,
                                  "AD": {"mean": 1.0, "ci95": 0.01, "per_seed": [1.0] * 3},
                                  "RL2": {"mean": -1.5, "ci95": 0.03, "per_seed": [-1.5] * 3}}}}
    write_json(tmp_path / "bandit" / "results.json", bandit)
    where = tmp_path / "rl2" / "bandit_transformer"
    s = rl2_bandit.bandit_scores(report.load(where), bandit, where)["even"]
    assert s["per_seed"] == pytest.approx([0.5, 1.5]) and s["mean"] == pytest.approx(1.0)
    assert s["interval_over"] == "training"
    assert s["first_10pct"] == pytest.approx(0.3) and s["last_10pct"] == pytest.approx(0.7)
    assert report.rl2_lines(tmp_path) == []  # no grid runs: no grid section
    lines = rl2_bandit.bandit_lines(tmp_path)
    assert lines[0] == "## RL²-Transformer on the bandit at this CPU's budget"
    row = next(ln for ln in lines if ln.startswith("| even"))
    assert "| 1.00 ± " in row and "| -0.28 |" in row and "| -1.50 ± 0.03 | -0.47 |" in row
    assert "transformer 2 x 64 (2 heads), A2C" in lines[2]
    # and in the report's table of every number, under the experiment's own methods
    from adjax.report.reproduction import _score_rows
    bandit.update(env="bandit", curves={"even": {"AD": {"num_tasks": 100}}})
    others = rl2_bandit.published_bandit_scores(tmp_path, "bandit", bandit)
    rows = _score_rows("bandit", bandit, others)
    assert [r[2] for r in rows] == ["AD", "RL²", "RL²-Transformer"]
    assert rows[2][4] == "1.00 ± 6.35" and rows[2][5] == "2 training" and rows[2][6] == "-0.28"
    # runs evaluated on other tasks than the experiment's: their random return differs
    _bandit_seed(tmp_path, 0, [[0.2] * 10] * 2, [[0.31] * 10] * 2)
    _bandit_seed(tmp_path, 1, [[0.2] * 10] * 2, [[0.31] * 10] * 2)
    with pytest.raises(ValueError, match="seed0: its random policy's return on even"):
        rl2_bandit.bandit_lines(tmp_path)
