"""Smoke test of the whole Dark Room pipeline at toy size: every artefact made and well-formed."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
from test_notebook import PRODUCTS, cell_outputs, printed_text, run_notebook

from adjax.atomic import read_json
from adjax.experiments import darkroom
from adjax.experiments.pipeline import refresh_check, refresh_checks, refresh_summary
from adjax.experiments.runner import run_experiment


def tiny():
    """The tiny preset with two training seeds (the multi-seed path)."""
    return dataclasses.replace(darkroom.tiny(), train_seeds=2)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """(run directory, results) of `tiny()`, trained once for this module: its toy run, and the
    trained run the inside_ad notebook is tested on (the last test), so both share one training.
    A rerun with `tiny()` that found another configuration there would raise."""
    out = tmp_path_factory.mktemp("darkroom")
    return out, run_experiment(tiny(), out, preset="tiny", progress=False)


def test_every_artefact_is_produced(toy_run):
    out, results = toy_run
    for rel in ("experiment.json", "timings.json", "results.json", "summary.md",
                "figures/darkroom.png", "data/learning/manifest.json",
                "data/expert/manifest.json"):
        assert (out / rel).exists(), rel
    for k in (0, 1):
        for rel in ("runs/ad/seed{k}/config.json", "runs/ad/seed{k}/metrics.jsonl",
                    "runs/ed/seed{k}/config.json", "eval/test/seed{k}.json",
                    "eval/val/seed{k}.json", "eval/train/seed{k}.json"):
            assert (out / rel.format(k=k)).exists(), rel
        assert (out / f"runs/ad/seed{k}/checkpoints").is_dir()
    for split in ("test", "val", "train"):
        assert (out / f"eval/{split}/baselines.json").exists()
    seeds = [json.loads((out / f"runs/ad/seed{k}/config.json").read_text())["train"]["seed"]
             for k in (0, 1)]
    assert seeds == [0, 1]
    assert json.loads((out / "data/expert/manifest.json").read_text())["kind"] == "expert"
    on_disk = read_json(out / "results.json")  # its checksum holds
    assert on_disk["summary"] == results["summary"]
    timed = json.loads((out / "timings.json").read_text())
    assert set(results["provenance"]) == set(timed)  # every stage: the code and machine it ran on
    assert json.loads((out / "provenance.json").read_text()) == results["provenance"]
    for where in results["provenance"].values():
        assert where["code"].startswith(("git ", "adjax ")) and "device(s)" in where["machine"]


def test_results_are_well_formed(toy_run):
    """Trained methods carry one curve per training seed (the mean of their evaluation seeds and
    tasks); the evaluation-seed curves average both training seeds; baselines have none."""
    out, results = toy_run
    cfg = tiny()
    # wall_time_s holds stages alone; the invocation's own time is beside it
    assert set(results["wall_time_s"]) == set(read_json(out / "timings.json"))
    assert results["invocation_s"] >= 0
    test, val, train = (results["curves"][s] for s in ("test", "val", "train"))
    head = cfg.eval.splits[0]
    for method in ("AD", "ED", "source", "random"):
        per_seed = np.asarray(test[method]["per_seed"])
        assert per_seed.shape == (head.num_seeds, head.num_episodes), method
        assert np.all((per_seed >= 0) & (per_seed <= 20))
        assert test[method]["num_tasks"] == 16
    for method in ("AD", "ED"):
        runs = np.asarray(test[method]["per_train_seed"])
        assert runs.shape == (2, head.num_episodes)
        np.testing.assert_allclose(runs.mean(0), np.asarray(test[method]["per_seed"]).mean(0),
                                   atol=1e-3)
        one = json.loads((out / "eval/test/seed1.json").read_text())
        key = "agent" if method == "AD" else "ed"
        np.testing.assert_allclose(runs[1], np.asarray(
            one["splits"]["test"]["curves"][key]["returns"]).mean((0, 1)), atol=1e-4)
    assert "per_train_seed" not in test["random"]
    assert results["summary"]["AD test"]["interval_over"] == "training"
    assert results["summary"]["random test"]["interval_over"] == "evaluation"
    assert np.asarray(train["AD"]["per_seed"]).shape == (1, cfg.eval.splits[2].num_episodes)
    assert train["AD"]["num_tasks"] == 57 and val["AD"]["num_tasks"] == 8
    assert 0 < test["optimal"] <= 20
    assert results["source_name"] == "Q-learning"
    check = results["refresh"]  # each training seed's AD, summarised over both
    assert check["train_seeds"] == [0, 1] and check["over"] == "training seeds"
    assert check["all"]["pairs"] == 2 * 16 and check["episodes"] == 2
    for k in (0, 1):
        assert check["per_train_seed"][str(k)]["all"]["pairs"] == 16
        for mode, b in (("block", None), ("queue", 1)):
            e = json.loads((out / f"eval/refresh/seed{k}/{mode}.json").read_text())
            assert e["refresh_every"] == b and e["run_dir"].endswith(f"seed{k}")
    assert "| test | source (Q-learning) |" in (out / "summary.md").read_text()


def test_more_training_seeds_reuse_the_first(toy_run, tmp_path):
    """Asking for fewer seeds later reuses the trained ones and reports only those."""
    out, _ = toy_run
    one = run_experiment(dataclasses.replace(tiny(), train_seeds=1), out, preset="tiny",
                         progress=False)
    assert len(one["curves"]["test"]["AD"]["per_train_seed"]) == 1
    assert one["summary"]["AD test"]["interval_over"] == "evaluation"


def test_rerun_reuses_every_stage(toy_run, capsys):
    out, results = toy_run
    again = run_experiment(tiny(), out, preset="tiny", progress=False)
    assert again["curves"] == results["curves"]
    printed = capsys.readouterr().out
    # 2 collections, 2 x 2 trainings, 3 splits x (2 seeds + baselines) evaluations
    # + the refresh check: block and queue for each seed
    assert printed.count("already complete, reused") == 2 + 4 + 9 + 4


def test_a_damaged_evaluation_is_evaluated_again(toy_run, capsys):
    """A digit changed in an evaluation JSON still parses; its checksum catches it, and the
    stage runs again (deterministic: the same curves) instead of reporting the changed number."""
    out, results = toy_run
    f = out / "eval" / "val" / "seed0.json"
    text = f.read_text()
    i = text.index('"returns": [[[') + len('"returns": [[[')
    f.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:])
    again = run_experiment(tiny(), out, preset="tiny", progress=False)
    printed = capsys.readouterr().out
    assert "seed0.json: its content does not match its content_sha256" in printed
    assert "[evaluate val tasks, AD and ED seed 0] ..." in printed
    assert again["curves"] == results["curves"]
    assert f.read_text() == text


def test_an_evaluation_of_another_checkpoint_is_evaluated_again(toy_run, capsys):
    """Each evaluation records the checkpoint step it evaluated; one of another step (a run
    trained further since) is redone, not reported as this run's."""
    from adjax.atomic import write_json

    out, results = toy_run
    f = out / "eval" / "test" / "seed1.json"
    d = read_json(f)
    assert d["run_step"] == tiny().train_ad.num_steps and d["ed_run_step"] is not None
    write_json(f, {**d, "run_step": d["run_step"] - 1}, checksum=True)
    again = run_experiment(tiny(), out, preset="tiny", progress=False)
    printed = capsys.readouterr().out
    assert "[evaluate test tasks, AD and ED seed 1] ..." in printed
    assert "[evaluate test tasks, AD and ED seed 0] ..." not in printed
    assert again["curves"] == results["curves"] and read_json(f)["run_step"] == d["run_step"]


def test_mixing_configs_in_one_directory_is_refused(toy_run):
    out, _ = toy_run
    other = dataclasses.replace(tiny(), expert_episodes=3)
    with pytest.raises(ValueError, match="expert_episodes"):
        run_experiment(other, out, progress=False)


def test_refresh_check_by_hand():
    """Paired differences over task x seed pairs: pair means 1, 3 (block) and 2, 6 (queue) ->
    differences 1 and 3: mean 2, sd 1.414, sem 1, t(0.975, 1) = 12.706; the block's own interval
    the same, the queue's (2, 6: sem 2) twice that."""
    def run(returns, b):
        return {"refresh_every": b,
                "splits": {"test": {"curves": {"agent": {"returns": returns}}}}}

    block = run([[[0.0, 2.0]], [[2.0, 4.0]]], None)  # [N=2, S=1, E=2]
    queue = run([[[2.0, 2.0]], [[6.0, 6.0]]], 1)
    r = refresh_check(block, queue, "test")
    assert r["all"] == {"block": 2.0, "queue": 4.0, "queue_minus_block": 2.0, "ci95": 12.706,
                        "pairs": 2, "block_ci95": 12.706, "queue_ci95": 25.412}
    assert r["last_10pct"]["block"] == 3.0 and r["last_10pct"]["queue"] == 4.0


def test_refresh_summary_over_training_seeds_by_hand():
    """One seed: its own check (intervals over pairs). Two: each window's block, queue and
    difference are means of the seeds' values with t-intervals over the seeds (values 0.5, 0.7:
    mean 0.6, sd 0.1414, sem 0.1, x 12.706 = 1.271), pairs summed; a check written before every
    seed had one is training seed 0's, so old and new shards merge."""
    def check(b, q, episodes=1000):
        w = {"block": b, "queue": q, "queue_minus_block": round(q - b, 3), "ci95": 0.01,
             "block_ci95": 0.02, "queue_ci95": 0.03, "pairs": 290}
        return {"split": "test", "all": w, "last_10pct": w, "episodes": episodes,
                "refresh_every_block": 140}

    one = refresh_summary({0: check(0.5, 0.6)})
    assert one["all"] == check(0.5, 0.6)["all"] and one["over"] == "task × seed pairs"
    two = refresh_summary({1: check(0.7, 0.9), 0: check(0.5, 0.6)})
    assert two["train_seeds"] == [0, 1] and two["over"] == "training seeds"
    assert two["last_10pct"] == {"block": 0.6, "block_ci95": 1.271, "queue": 0.75,
                                 "queue_ci95": 1.906, "queue_minus_block": 0.15,
                                 "ci95": 0.635, "pairs": 580}
    assert two["per_train_seed"]["1"] == check(0.7, 0.9)
    old = {"refresh": check(0.5, 0.6)}  # seed 0's shard, before per-seed checks
    new = {"refresh": refresh_summary({1: check(0.7, 0.9)})}
    merged = {k: c for r in (old, new, {}) for k, c in refresh_checks(r).items()}
    assert refresh_summary(merged) == two
    with pytest.raises(ValueError, match="training seed 1: episodes 200, seed 0's 1000"):
        refresh_summary({0: check(0.5, 0.6), 1: check(0.7, 0.9, episodes=200)})


def test_refresh_seeds_rerun_the_check_alone_and_publish(toy_run, tmp_path):
    """`--refresh-seeds N` on a finished run redoes only the refresh check (N evaluation seeds per
    task: N / 1 times the preset's pairs), reusing every other stage; `--publish` copies the
    results there. A preset without a refresh check, or N < 1, is refused before any work."""
    from adjax.experiments.command import cli, with_overrides

    src, before = toy_run
    out = tmp_path / "run"
    shutil.copytree(src, out, symlinks=True)
    n = darkroom.tiny().eval.refresh_check.num_seeds
    argv = ["--preset", "tiny", "--out", str(out), "--seeds", "2", "--refresh-seeds", str(2 * n),
            "--publish", str(tmp_path / "pub")]
    after = cli("darkroom", darkroom.PRESETS, argv=argv)
    old_t, new_t = (json.loads((d / "timings.json").read_text()) for d in (src, out))
    redone = {k for k, v in new_t.items() if old_t.get(k) != v}
    assert redone and all("refresh" in k for k in redone), redone
    for k in ("0", "1"):
        old, new = (r["refresh"]["per_train_seed"][k]["all"]["pairs"] for r in (before, after))
        assert new == 2 * old
    assert after["curves"] == before["curves"]  # nothing else was evaluated again
    assert read_json(tmp_path / "pub" / "results.json")["refresh"] == after["refresh"]
    with pytest.raises(SystemExit, match="--refresh-seeds must be >= 1"):
        cli("darkroom", darkroom.PRESETS, argv=["--preset", "tiny", "--refresh-seeds", "0"])
    no_check = dataclasses.replace(darkroom.tiny(), eval=dataclasses.replace(
        darkroom.tiny().eval, refresh_check=None))
    with pytest.raises(ValueError, match="no refresh check"):
        with_overrides(no_check, refresh_seeds=3)


def test_ablation_reuses_the_base_run(toy_run, tmp_path):
    """An ablation value equal to the base preset links the base run's trained AD and shares its
    data (nothing collected or trained), evaluates AD alone on the held-out split with the same
    keys as the base run (same curve, bit for bit), and writes its table, figure and results."""
    from adjax.experiments import masking
    from adjax.experiments.ablation import run_ablation
    from adjax.experiments.common import publish

    base_dir, _ = toy_run
    p = darkroom.tiny().model.token_mask_prob  # the base preset's own value
    abl = dataclasses.replace(masking.tiny(), values=(p,), base=darkroom.tiny())
    res = run_ablation(abl, tmp_path / "runs", base_dir=base_dir, progress=False)
    run_dir = tmp_path / "runs" / "masking" / f"masking_{p:g}"
    assert (run_dir / "runs" / "ad" / "seed0").is_symlink()
    assert not (run_dir / "runs" / "ed").exists() and not (run_dir / "data").exists()
    assert not list((tmp_path / "runs" / "masking").glob("data-*"))
    timings = json.loads((run_dir / "timings.json").read_text())
    assert set(timings) == {"evaluate test tasks, AD seed 0"}, timings
    ours = json.loads((run_dir / "eval" / "test" / "seed0.json").read_text())
    base = json.loads((base_dir / "eval" / "test" / "seed0.json").read_text())
    assert set(ours["splits"]["test"]["curves"]) == {"agent"}
    assert (ours["splits"]["test"]["curves"]["agent"]["returns"]
            == base["splits"]["test"]["curves"]["agent"]["returns"])
    (point,) = res["points"]
    per_seed = np.asarray(ours["splits"]["test"]["curves"]["agent"]["returns"]).mean(axis=0)
    assert point["final"] == pytest.approx(per_seed[:, -1].mean(), abs=1e-4)  # 4 eps: last one
    assert point["interval_over"] == "evaluation" and point["x"] == p and res["paper"] == {}
    assert (tmp_path / "runs" / "masking" / "figures" / "masking.png").exists()
    pub = tmp_path / "pub"
    (pub / "shards" / "seed1").mkdir(parents=True)  # an earlier result's shards
    (pub / "sweeps").mkdir()  # written beside the results, not by the run
    for name, text in (("NOTES.md", "notes"), ("probe.py", "x = 1"), ("summary.md", "old"),
                       ("shards/seed1/results.json", "{}"), ("sweeps/lr.json", "{}")):
        (pub / name).write_text(text)
    publish(tmp_path / "runs" / "masking", pub, names=("results.json", "summary.md"))
    assert (pub / "figures" / "masking.png").exists()
    assert [(pub / n).read_text() for n in ("NOTES.md", "probe.py", "sweeps/lr.json")
            ] == ["notes", "x = 1", "{}"]
    assert not (pub / "shards").exists()  # replaced by the run's results
    assert (pub / "summary.md").read_text() == (tmp_path / "runs" / "masking" / "summary.md"
                                                ).read_text()
    # The paths figure: one row per value, its record the value's own run's drawn episodes,
    # redrawn from the published record when the value's run is gone.
    record = read_json(pub / "figures" / "masking_paths.json")["values"][point["config"]]
    drawn = read_json(run_dir / "figures" / "darkroom_paths.json")
    assert record["label"] == f"{p:g}" and record["shown_rewards"] == drawn["shown_rewards"]
    assert record["returns"] == drawn["returns"] and "masking_paths.png" in (
        pub / "summary.md").read_text()
    from adjax.experiments.ablation import _paths_figure, _paths_records

    gone = [{**point, "run": str(tmp_path / "gone")}]
    published = _paths_records(pub / "figures" / "masking_paths.json")
    png = _paths_figure(abl, gone, tmp_path / "again", published)
    again = read_json(tmp_path / "again" / "figures" / "masking_paths.json")["values"]
    assert png.exists() and again[point["config"]] == record
    assert _paths_figure(abl, gone, tmp_path / "none", {}) is None



def test_published_points_get_their_paths_by_training_seed_0_alone(toy_run, tmp_path):
    """A value taken from the published results whose paths the published figure lacks: with
    draw_paths its AD seed 0 is linked from the base run when it is the base's AD, else trained
    alone (`train_only`: no evaluation, no other seed), and drawn; its point stays the
    published one. Without draw_paths nothing is trained and the value has no row."""
    from adjax.experiments import ablation, masking

    base_dir, _ = toy_run
    p = darkroom.tiny().model.token_mask_prob
    abl = dataclasses.replace(masking.tiny(), values=(p, 0.5), base=darkroom.tiny())
    pub = tmp_path / "pub"
    cfgs = [abl.variant(v) for v in abl.values]
    points = [{"value": v, "label": f"{v:g}", "x": v, "final": 1.0 + i, "ci95": 0.5,
               "interval_over": "evaluation", "per_unit": [1.0], "first_10pct": 0.5,
               "curve": [0.5, 1.0], "wall_time_s": {}, "config": ablation.config_digest(c)}
              for i, (v, c) in enumerate(zip(abl.values, cfgs, strict=True))]
    (pub / "figures").mkdir(parents=True)
    (pub / "results.json").write_text(json.dumps({"points": points, "machine": "a CPU"}))
    reused = [{**pt, "machine": "a CPU"} for pt in points]  # the file's, made in one sitting

    res = ablation.run_ablation(abl, tmp_path / "runs", base_dir=base_dir, progress=False,
                                published=pub)
    assert res["points"] == reused and not (pub / "figures" / "masking_paths.png").exists()
    assert res["machine"] == "a CPU"
    assert not (tmp_path / "runs" / "masking" / "masking_0.5" / "runs").exists()

    res = ablation.run_ablation(abl, tmp_path / "runs", base_dir=base_dir, progress=False,
                                published=pub, draw_paths=True)
    assert res["points"] == reused  # the published numbers, not a new evaluation
    runs = tmp_path / "runs" / "masking"
    assert (runs / f"masking_{p:g}" / "runs" / "ad" / "seed0").is_symlink()
    trained = runs / "masking_0.5"
    assert (trained / "runs" / "ad" / "seed0").is_dir() and not (trained / "eval").exists()
    assert not (trained / "runs" / "ad" / "seed1").exists() and not (trained / "data").exists()
    assert read_json(trained / "experiment.json")["model"]["token_mask_prob"] == 0.5
    records = read_json(pub / "figures" / "masking_paths.json")["values"]
    assert list(records) == [pt["config"] for pt in points]
    assert [r["label"] for r in records.values()] == [f"{p:g}", "0.5"]
    assert "masking_paths.png" in (pub / "summary.md").read_text()

def test_trajectory_pictures_of_the_summary_stage(toy_run):
    """The summary stage draws AD seed 0's paths on held-out task 0 with the evaluation's key
    for evaluation seed 0 (so its returns are that pair's evaluated returns), shows them in
    summary.md, and reuses them while the run is unchanged."""
    from adjax.report import trajectories

    out, _ = toy_run
    figs = out / "figures"
    png, gif, js = (figs / f"darkroom_{s}" for s in ("paths.png", "episodes.gif", "paths.json"))
    summary = (out / "summary.md").read_text()
    assert "![darkroom_paths](figures/darkroom_paths.png)" in summary
    assert "![darkroom_episodes](figures/darkroom_episodes.gif)" in summary
    record = json.loads(js.read_text())
    evaluated = json.loads((out / "eval/test/seed0.json").read_text())["splits"]["test"]
    assert record["returns"] == evaluated["curves"]["agent"]["returns"][0][0]
    assert record["task_cells"] == evaluated["tasks"][0]
    assert record["episodes"] == tiny().eval.splits[0].num_episodes == 4
    assert sorted(record["shown"]) == ["1", "2", "4"]
    assert png.stat().st_size < 300_000 and gif.stat().st_size < 1_000_000
    shown, eps = trajectories.shown_paths(record)  # read back for side-by-side figures
    assert eps == [1, 2, 4] and shown.returns.tolist() == [record["returns"][e - 1] for e in eps]
    assert shown.positions[2].tolist() == record["shown"]["4"]
    old = {k: v for k, v in record.items() if k != "shown_rewards"}
    with pytest.raises(trajectories.PictureError, match="kept no rewards; draw it again"):
        trajectories.shown_paths(old)
    before = {p: p.stat().st_mtime_ns for p in (png, gif, js)}
    assert trajectories.write_trajectories(out, num_episodes=4)["png"] == png
    assert {p: p.stat().st_mtime_ns for p in (png, gif, js)} == before  # unchanged: reused
    trajectories.write_trajectories(out, num_episodes=3)  # other settings: redrawn
    assert json.loads(js.read_text())["returns"] == record["returns"][:3]


def test_inside_ad_notebook_on_this_run(toy_run, tmp_path, monkeypatch):
    """The inside_ad notebook without its training (test_notebook's slow test trains inside it)
    on this module's run's AD seed 0: its paths, attention maps and per-episode attention
    shares."""
    monkeypatch.setenv("ADJAX_AD_RUN", str(toy_run[0] / "runs" / "ad" / "seed0"))
    nb = run_notebook("inside_ad", tmp_path, monkeypatch)
    outputs = cell_outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # paths, visits, 2 maps
    assert any("image/gif" in o.get("data", {}) for o in outputs)
    text = printed_text(nb)
    assert "no trained run there" not in text and not (tmp_path / "runs").exists()
    assert "held-out goal [5, 7] (optimal return 17)" in text  # held-out task 0
    # uniform attention from the k-th step of an episode, 20 steps after one earlier episode:
    # k / (20 + k) on its own episode; the mean over k = 1..20 is 0.32
    own = np.mean([k / (20 + k) for k in range(1, 21)])
    assert (f"early: the query's episode and 1, 2, ... back; uniform attention: {own:.2f} / "
            f"{1 - own:.2f}") in text
    assert "late: the query's" in text and "  layer 0: " in text
    for product in PRODUCTS["inside_ad"][1:]:
        assert (tmp_path / product).exists(), product


def test_quickstart_notebook_on_this_run(toy_run, tmp_path, monkeypatch):
    """The quickstart notebook at its tiny size finds this module's run where it would write its
    own (the tiny preset with one of its two training seeds): every stage is reused, and its
    figure and results table are shown (test_notebook's slow test runs it from nothing)."""
    shutil.copytree(toy_run[0], tmp_path / "runs" / "notebook")
    nb = run_notebook("quickstart", tmp_path, monkeypatch)
    outputs = cell_outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("text/markdown" in o.get("data", {}) for o in outputs)  # the results table
    text = printed_text(nb)
    assert "already complete, reused" in text and "train AD seed 0" in text
    assert "train AD seed 1" not in text  # one training seed asked for, one reported
    for product in PRODUCTS["quickstart"]:
        assert (tmp_path / product).exists(), product
