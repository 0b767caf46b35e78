"""Report step: fixed small results JSON -> expected table, intervals by hand, a figure file."""

import json

import numpy as np
import pytest

from adjax.report import mean_ci, plot_curves, results_table

RESULTS = {
    "env": "darkroom",
    "episode_len": 20,
    "curves": {
        "test": {
            "AD": {"per_seed": [[1.0, 5.0, 9.0, 13.0], [3.0, 7.0, 11.0, 15.0]], "num_tasks": 16,
                   "per_train_seed": [[1.5, 5.0, 9.0, 14.0], [2.5, 7.0, 11.0, 14.0]]},
            "ED": {"per_seed": [[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]], "num_tasks": 16},
            "optimal": 16.5,
        }
    },
}


def test_mean_ci_by_hand():
    mean, half = mean_ci(np.array([1.0, 3.0]))
    # sd = sqrt(2), sem = 1, t(0.975, 1) = 12.7062
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(12.7062, rel=1e-4)
    mean, half = mean_ci(np.array([[5.0, 7.0]]))
    assert half.tolist() == [0.0, 0.0] and mean.tolist() == [5.0, 7.0]
    with pytest.raises(ValueError, match="at least one seed"):
        mean_ci(np.zeros((0, 3)))


def test_table_is_exactly_as_expected():
    """AD's cells are over its 2 training seeds (ep 1: 1.5, 2.5 -> sd 0.707, sem 0.5, t 12.706),
    its evaluation-seed interval beside the last 10%; ED has no training-seed curves, so its
    cells are over evaluation seeds; the paper's values sit under ours at the same episode."""
    table = results_table(RESULTS)
    expected = (
        "| split | method | train seeds × eval seeds × tasks | ep 1 | ep 4 | last 10% (ep 4-4) "
        "| ± over eval seeds |\n"
        "|---|---|---|---|---|---|---|\n"
        "| test | AD | 2 × 2 × 16 | 2.00 ± 6.35 | 14.00 ± 0.00 | 14.00 ± 0.00 | 14.00 ± 12.71 |\n"
        "| test | AD, paper | 5 × 20 × – | 1.3 | – | – |  |\n"
        "| test | ED | – × 2 × 16 | 2.00 ± 0.00 | 2.00 ± 0.00 | 2.00 ± 0.00 | 2.00 ± 0.00 |\n"
        "| test | ED, paper | 5 × 20 × – | 2 | – | – |  |\n"
        "| test | optimal | | 16.50 | 16.50 | 16.50 | |\n"
    )
    assert table == expected


def test_figure_written(tmp_path):
    path = plot_curves(RESULTS, tmp_path / "fig" / "darkroom.png", title="t")
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob("*.tmp.png"))


SCORES = {
    "env": "bandit",
    "episode_len": 1,
    "curves": {split: {"AD": {"per_seed": [[0.8, 0.9], [0.7, 0.8]], "num_tasks": 100}}
               for split in ("odd", "even")},
    "scores": {
        "odd": {"random_return": 0.5, "source_return": 0.9,
                "AD": {"per_seed": [0.9, 1.0], "mean": 0.95, "ci95": 0.64},
                "ED": {"per_seed": [0.5, 0.5], "mean": 0.5, "ci95": 0.0}},
        "even": {"random_return": 0.5, "source_return": 0.9,
                 "AD": {"per_seed": [0.8, 0.8], "mean": 0.8, "ci95": 0.0}},
    },
}


def test_scores_table_is_exactly_as_expected():
    from adjax.report import scores_table

    expected = (
        "| split | AD | paper AD | ED | paper ED | random (0) | source (1) |\n"
        "|---|---|---|---|---|---|---|\n"
        "| odd | 0.95 ± 0.64 | 0.98 | 0.50 ± 0.00 | 0.48 | 0.500 | 0.900 |\n"
        "| even | 0.80 ± 0.00 | 0.83 | – | -0.47 | 0.500 | 0.900 |\n"
    )
    assert scores_table(SCORES) == expected


def test_normalised_scores_by_hand():
    from adjax.experiments.runner import normalised_scores

    curves = {"odd": {"AD": {"per_seed": [[0.6, 0.8], [0.8, 1.0]], "num_tasks": 3},
                      "random": {"per_seed": [[0.5, 0.5], [0.5, 0.5]], "num_tasks": 3},
                      "source": {"per_seed": [[0.9, 0.9], [0.9, 0.9]], "num_tasks": 3}},
              "test": {"AD": {"per_seed": [[1.0]], "num_tasks": 1}}}  # no baselines: no score
    s = normalised_scores(curves)
    assert list(s) == ["odd"]
    # seed means 0.7 and 0.9 -> (0.7 - 0.5) / 0.4 = 0.5 and 1.0
    assert s["odd"]["AD"]["per_seed"] == [0.5, 1.0]
    assert s["odd"]["AD"]["mean"] == pytest.approx(0.75)
    assert s["odd"]["random_return"] == 0.5 and s["odd"]["source_return"] == 0.9
    flat = {"odd": {**curves["odd"], "source": curves["odd"]["random"]}}
    assert "AD" not in normalised_scores(flat)["odd"]  # source == random: no scale, no score


def test_score_figure_and_report(tmp_path):
    from adjax.report import plot_scores
    from adjax.report.reproduction import write_report

    assert plot_scores(SCORES, tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    old_schema = {k: v for k, v in RESULTS.items()}  # no "train_seeds": before the protocol
    for name, res in (("bandit", {**SCORES, "train_seeds": 1}),
                      ("darkroom", {**RESULTS, "train_seeds": 2}), ("legacy", old_schema)):
        (tmp_path / name / "figures").mkdir(parents=True)
        (tmp_path / name / "results.json").write_text(json.dumps({**res, "preset": "quick"}))
        (tmp_path / name / "timings.json").write_text(json.dumps({"a": 60.0, "b": 30.0}))
        (tmp_path / name / "figures" / f"{name}.png").write_bytes(b"\x89PNG")
    report = write_report(tmp_path, ["bandit", "darkroom", "legacy", "missing"]).read_text()
    assert "| legacy |" not in report and "- legacy: [old summary](legacy/summary.md)" in report
    assert ("| bandit | odd (seen): 100 tasks | AD | normalised score | 0.95 ± 0.64 | "
            "2 evaluation | 0.98 |") in report
    assert ("| darkroom | held-out: 16 tasks × 2 × 2 seeds | AD | return, episode 1 | "
            "2.00 ± 6.35 | training | 1.3 |") in report
    # the paper gives no number at episode 4: none is set beside ours
    assert ("| darkroom | held-out: 16 tasks × 2 × 2 seeds | AD | return, episodes 4-4 | "
            "14.00 ± 0.00 | training | – |") in report
    assert "| darkroom | held-out: 16 tasks × 2 seeds | ED | return, episode 1 |" in report
    assert "Total compute: 3.0 min" in report and "![darkroom](darkroom/figures/darkroom.png)" \
        in report
    assert "missing" not in report
    with pytest.raises(FileNotFoundError, match="no results.json"):
        write_report(tmp_path, ["missing"])


def test_machine_line_names_each_run_when_they_differ():
    from adjax.report.reproduction import _machines

    assert _machines([("a", {"machine": "m1"}), ("b", {"machine": "m1"})]) == "m1"
    assert _machines([("a", {"machine": "m1"}), ("b", {"machine": "m2"})]) == "a: m1; b: m2"


def test_prompting_section_checks_its_targets(tmp_path):
    import json

    from adjax.report.prompting import prompting_lines

    assert prompting_lines(tmp_path) == []
    curve = lambda first, last: {"first_10pct": first, "first_10pct_ci95": 0.1,  # noqa: E731
                                 "last_10pct": last, "last_10pct_ci95": 0.1,
                                 "interval_over": "training"}
    r = {"optimal": {"mean": 10.0}, "episode_len": 20, "num_episodes": 50, "levels": [0.1, 0.9],
         "demonstrations": {"0.1": {"level_measured": 0.1, "return_mean": 1.0},
                            "0.9": {"level_measured": 0.9, "return_mean": 9.0}},
         "summary": {"0.1": {"AD": curve(2.0, 9.5), "ED": curve(1.0, 1.2)},
                     "0.9": {"AD": curve(9.0, 8.0), "ED": curve(9.0, 9.1)}},
         "command": "c", "run": "r", "source_name": "s", "train_seeds": [0, 1], "num_tasks": 4,
         "num_seeds": 2, "prompt": {"episodes": 3}, "temperature": 1.0}
    (tmp_path / "prompting").mkdir()
    (tmp_path / "prompting" / "results.json").write_text(json.dumps(r))
    text = "\n".join(prompting_lines(tmp_path))
    assert "| 0.1 (0.10) | 1.00 | 2.00 ± 0.10 | 9.50 ± 0.10 |" in text
    assert "every level: missed at 1 of 2 levels" in text  # 8.0 < 0.9 * 10
    assert "demonstrations' return: met" in text
    assert "paper AD after 25,000 steps (ours: 1,000)" in text
    assert "prompting_paths.png" not in text  # drawn only where the run drew it
    (tmp_path / "prompting" / "results.json").write_text(json.dumps(
        {**r, "paths_figure": "figures/prompting_paths.png"}))
    assert "![prompted paths](prompting/figures/prompting_paths.png)" in "\n".join(
        prompting_lines(tmp_path))


def test_report_only_rewrites_the_committed_report_without_running(tmp_path):
    """`reproduce --report-only` reads the published results alone: the committed REPORT.md is
    exactly what it writes (every number in it regenerated from committed artefacts)."""
    import shutil
    from pathlib import Path

    from adjax.experiments import reproduce

    src = Path(__file__).resolve().parents[2] / "experiments"
    shutil.copytree(src, tmp_path / "experiments")
    path = reproduce.main(reproduce.Args(report_only=True, runs=tmp_path / "none",
                                         publish=tmp_path / "experiments"))
    assert not (tmp_path / "none").exists()
    assert path.read_text() == (src / "REPORT.md").read_text()


@pytest.mark.parametrize("diff_all, diff_last, verdict", [
    (0.01, -0.02, "agree within the intervals"),
    (0.04, 0.054, "queue scores higher beyond the interval: the table's numbers (block refresh) "
                  "understate"),
    (-0.30, -0.02, "queue scores lower beyond the interval: the table's numbers (block refresh) "
                   "overstate"),
    (0.04, -0.06, "opposite directions"),
])
def test_refresh_line_says_what_the_check_means_for_the_table(diff_all, diff_last, verdict):
    from adjax.report.reproduction import refresh_line

    def window(d):
        return {"block": 0.3, "queue": 0.3 + d, "queue_minus_block": d, "ci95": 0.03,
                "pairs": 290}
    line = refresh_line({"split": "test", "episodes": 200, "all": window(diff_all),
                         "last_10pct": window(diff_last)})
    assert verdict in line and line.count("The ") == 1
    assert "290 task × seed pairs, 200 episodes" in line and "episodes 181-200" in line
    assert "AD, training seed 0," in line and "interval over task × seed pairs" in line


def test_refresh_rows_set_both_refreshes_beside_the_paper_at_the_same_episode():
    """The check's last 10% under each refresh, with its own interval over the pairs where the
    check has one, after the check's split; the paper's AD at the check's last episode."""
    from adjax.report.reproduction import _curve_rows

    def window(b, q):
        return {"block": b, "queue": q, "block_ci95": 0.02, "queue_ci95": 0.03,
                "queue_minus_block": q - b, "ci95": 0.01, "pairs": 290}
    refresh = {"split": "test", "episodes": 1000, "all": window(0.5, 0.52),
               "last_10pct": window(0.57, 0.61)}
    curve = {"per_seed": [[0.1] * 1000, [0.2] * 1000]}
    res = {"env": "darkroom-hard", "refresh": refresh,
           "curves": {"test": {"AD": curve}, "val": {"AD": curve}}}
    rows = _curve_rows("darkroom_hard", res)
    queue, block = (next(i for i, r in enumerate(rows) if r[2].startswith(f"AD, {m}"))
                    for m in ("paper's queue", "block"))
    assert rows[queue][3:] == ["return, episodes 901-1000", "0.61 ± 0.03", "task × seed pairs",
                               "0.68 (episode 1000)"]
    assert rows[block][4] == "0.57 ± 0.02" and rows[queue][1] == "held-out: 290 task × seed pairs"
    assert queue < block < next(i for i, r in enumerate(rows) if r[1].startswith("validation"))
    del refresh["last_10pct"]["queue_ci95"]  # a check written before the intervals were kept
    assert _curve_rows("darkroom_hard", res)[queue][4] == "0.61"
    refresh.update(train_seeds=[0, 1, 2], over="training seeds")  # every seed checked
    row = _curve_rows("darkroom_hard", res)[queue]
    assert row[2] == "AD, paper's queue refresh (training seeds 0, 1, 2)"
    assert row[5] == "training seeds"


def test_target_row_under_the_queue_only_where_the_check_covers_the_target_episodes(tmp_path):
    """Dark Room Hard's target read again under the paper's queue (the refresh check's last 10%,
    its seeds named) when the check ran the held-out evaluation's episodes; a shorter check gives
    no such row."""
    from adjax.report.reproduction import _target_rows

    window = {"block": 0.56, "queue": 0.65, "pairs": 290}
    res = {"preset": "quick", "curves": {"test": {"AD": {"per_seed": [[0.5] * 1000] * 2}}},
           "refresh": {"split": "test", "episodes": 1000, "all": window, "last_10pct": window,
                       "train_seeds": [0, 1]}}
    rows = _target_rows([("darkroom_hard", res)], tmp_path)
    assert ("| darkroom_hard | held-out AD under the paper's queue refresh, last 10% of episodes "
            "≥ 0.6 (training seeds 0, 1, 290 task × seed pairs) | 0.65 | yes |") in rows
    res["refresh"]["episodes"] = 200
    assert not any("queue" in r for r in _target_rows([("darkroom_hard", res)], tmp_path))


def test_target_rows_say_seeds_and_check_that_ed_stays_flat(tmp_path):
    """The final-return row names its training seeds; the ED row compares ED's last 10% with its
    first 10%'s interval (over evaluation seeds with one training seed): 20 episodes, tenths of
    2 episodes."""
    from adjax.report.reproduction import _target_rows

    flat = [[0.3, 0.5] + [0.4] * 18, [0.5, 0.3] + [0.4] * 18]  # first 10% 0.4 ± 0, last 0.4
    rising = [[0.3, 0.3] + [0.4] * 18, [0.3, 0.3] + [0.4] * 18]  # 0.3 ± 0 -> 0.4
    for ed, met in ((flat, "yes"), (rising, "**no**")):
        res = {"preset": "quick", "curves": {"test": {
            "AD": {"per_seed": [[1.0] * 20, [2.0] * 20], "per_train_seed": [[1.5] * 20]},
            "ED": {"per_seed": ed}}}}
        rows = _target_rows([("key_to_door", res)], tmp_path)
        assert rows[2] == ("| key_to_door | held-out AD, last 10% of episodes ≥ 1.6 "
                           "(1 training seed) | 1.50 | **no** |")
        assert rows[3].startswith("| key_to_door | held-out ED does not improve in context")
        assert rows[3].endswith(f"| {met} |"), rows[3]


def test_single_stream_sets_fig_6_beside_it_and_checks_five_times_fewer_steps(tmp_path):
    """The single-stream study is set beside the paper's Fig. 6 (not Key-to-Door's Fig. 4):
    AD at episode 200 beside 1.70, the one-actor source at 50k steps (a stream's episode 1000)
    beside 1.35; its target compares AD's last 10% with the source after 5x AD's env steps."""
    from adjax.report.paper import paper_curves
    from adjax.report.reproduction import _curve_rows, _source_rows, _target_rows

    assert paper_curves({"experiment": "key_to_door", "env": "key-to-door"})["AD"][200] == 1.66
    ad = [[1.0] * 190 + [1.6] * 10, [1.0] * 190 + [1.8] * 10]
    source = {"split": "test", "num_tasks": 4, "num_actors": 1, "steps_consumed": 60_000,
              "steps": [50, 10_000, 50_000, 60_000], "per_seed": [[0.2, 1.0, 1.5, 1.6]] * 2}
    res = {"experiment": "single_stream", "env": "key-to-door", "preset": "quick",
           "episode_len": 50, "source_name": "A2C (synchronous A3C)",
           "curves": {"test": {"AD": {"per_seed": ad, "num_tasks": 4}}},
           "source_curves": {"1 actor": source},
           "summary": {"source 1 actor test": {"ad_episodes": 200, "ad_steps": 10_000,
                                               "ad_last_10pct": 1.7,
                                               "steps_to_ad_last_10pct": None}}}
    rows = _curve_rows("single_stream", res)
    assert [r[-1] for r in rows if r[3] == "return, episode 200"] == ["1.7"]
    src = {r[3]: (r[4], r[6]) for r in _source_rows("single_stream", res)}
    assert src["return at 50,000 env steps (a stream's episode 1000)"][1] == "1.35"
    assert src["return at 10,000 env steps (AD episode 200)"][1] == "1.21"
    target = ("| single_stream | held-out AD over its last 10% of episodes (by 10,000 env steps) "
              "≥ its source (1 actor) from scratch after 50,000 steps | 1.70 vs 1.50 | yes |")
    assert target in _target_rows([("single_stream", res)], tmp_path)
    res["summary"]["source 1 actor test"]["ad_last_10pct"] = 1.4
    assert _target_rows([("single_stream", res)], tmp_path)[-1].endswith("| **no** |")


def test_rl2_line_names_the_network_budget_and_algorithm():
    from adjax.report.tables import rl2_line
    from adjax.rl2.config import preset

    cfg = preset("quick", "darkroom")
    line = rl2_line({"config": cfg.to_dict(), "env_steps": 64_000_000})
    assert line.startswith("RL²: an LSTM of 64 x 64, meta-trained with A2C on the training")
    assert "64,000,000 env steps" in line and "16x more" in line
    ppo = preset("quick", "darkroom", algo="ppo", hidden=(256, 256))
    assert "an LSTM of 256 x 256, meta-trained with PPO" in rl2_line(
        {"config": ppo.to_dict(), "env_steps": 64_000_000})


def test_preset_changes_names_each_trained_field_today_s_preset_changed(tmp_path):
    """A published run whose data, model or training differ from today's preset is flagged
    field by field (old -> new); its evaluation and seed count (its command's own) are not."""
    from adjax.experiments import key_to_door
    from adjax.report.reproduction import preset_changes

    today = json.loads(json.dumps(key_to_door.a3c().to_dict()))
    res = {"experiment": "key_to_door", "preset": "a3c"}
    then = {**today, "train_seeds": 1, "eval": None, "task_batch": 2}
    (tmp_path / "experiment.json").write_text(json.dumps(then))
    assert preset_changes(tmp_path, res) == []
    then["subsample_every"] = 10
    then["model"] = {**today["model"], "context_len": 400}
    (tmp_path / "experiment.json").write_text(json.dumps(then))
    assert preset_changes(tmp_path, res) == [
        "model.context_len: 400 -> 200", f"subsample_every: 10 -> {today['subsample_every']}"]
    assert preset_changes(tmp_path, {"experiment": "nope", "preset": "a3c"}) == []
    assert preset_changes(tmp_path / "missing", res) == []
