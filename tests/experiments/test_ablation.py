"""The analyses' axes: each value's configuration, the reuse rules, the table and figure."""

import dataclasses
import hashlib
import json

import pytest

from adjax.experiments import context_size, darkroom, masking, model_size, num_tasks, watermaze
from adjax.experiments.ablation import ablation_table, plot_ablation
from adjax.experiments.reuse import data_key, link_base_ad, shared_data_dir


def test_context_values_and_their_refresh():
    """0.4 .. 4 Dark Room episodes are 8 .. 80 steps; the refresh keeps >= 3/4 of the context."""
    abl = context_size.quick()
    got = {v: (abl.variant(v).model.context_len, abl.variant(v).eval.refresh_every)
           for v in abl.values}
    assert got == {0.4: (8, 2), 0.6: (12, 2), 0.8: (16, 4), 1: (20, 5), 2: (40, 10),
                   4: (80, None)}
    assert [abl.variant(v).train_ad.allow_short_context for v in abl.values] == [
        True, True, True, False, False, False]
    assert abl.variant(4).train_ad == darkroom.quick().train_ad  # the base AD: linked
    with pytest.raises(ValueError, match="need >= 4"):
        context_size.with_context(darkroom.tiny(), 0.1)


def test_a_variant_is_ad_alone_on_the_held_out_split():
    cfg = masking.quick().variant(0.1)
    assert cfg.train_ed is None and cfg.model.token_mask_prob == 0.1
    assert [se.split for se in cfg.eval.splits] == ["test"]
    assert cfg.eval.splits[0].baselines == () and cfg.eval.refresh_check is None
    assert num_tasks.quick().variant(4).num_train_tasks == 4
    assert num_tasks.quick().variant(57).num_train_tasks is None  # all: the base preset's data
    sizes = {v: model_size.num_params(model_size.quick().variant(v), v) for v in ("d16", "d64",
                                                                            "d128", "l2", "l8")}
    assert sizes["d16"] < sizes["d64"] < sizes["d128"] and sizes["l2"] < sizes["d64"] < sizes["l8"]


def test_data_is_shared_only_with_the_same_data_config(tmp_path):
    """The base run's data when its experiment.json collected the same; otherwise one directory
    per data configuration; its AD is linked only when trained to the end."""
    base = tmp_path / "base"
    base.mkdir()
    cfg = masking.quick().variant(0.3)  # the base preset's own model and training
    (base / "experiment.json").write_text(json.dumps(darkroom.quick().to_dict()))
    assert shared_data_dir(cfg, tmp_path / "abl", base) == base / "data"
    fewer = num_tasks.quick().variant(4)
    own = shared_data_dir(fewer, tmp_path / "abl", base)
    assert own.parent == tmp_path / "abl" and own.name.startswith("data-")
    assert shared_data_dir(num_tasks.quick().variant(8), tmp_path / "abl", base) != own
    assert link_base_ad(cfg, tmp_path / "abl" / "x", base) == 0  # nothing trained there yet
    assert link_base_ad(masking.quick().variant(0.1), tmp_path / "abl" / "x", base) == 0
    # a config without env settings keeps the data directory name it had before env_config
    # joined the key (the six fields it was made of then)
    before = {k: data_key(fewer)[k] for k in ("env", "source", "data_seeds", "num_train_tasks",
                                               "subsample_every", "chunk_size")}
    assert own.name == "data-" + hashlib.sha256(json.dumps(
        before, sort_keys=True, default=str).encode()).hexdigest()[:10]


def test_frames_of_another_resolution_are_other_data(tmp_path):
    """Watermaze's histories record the resolution they were rendered at: a variant of another
    resolution collects its own, and does not read the base run's."""
    base = tmp_path / "base"
    base.mkdir()
    wm = watermaze.streams()
    (base / "experiment.json").write_text(json.dumps(wm.to_dict()))
    assert shared_data_dir(wm, tmp_path / "s", base) == base / "data"
    big = dataclasses.replace(wm, env_config=(("height", 24), ("width", 32)))
    assert data_key(big)["env_config"] == {"height": 24, "width": 32}
    assert shared_data_dir(big, tmp_path / "s", base).parent == tmp_path / "s"


def _results(paper_env="key-to-door"):
    pts = [{"value": v, "label": f"{v:g}", "x": float(v), "final": f, "ci95": 0.5,
            "interval_over": "training"} for v, f in ((1, 4.0), (2, 8.0), (4, 10.0))]
    return {"title": "t", "axis": "context (episodes)", "x_label": "context (episodes)",
            "env": "darkroom", "episodes": 200, "points": pts, "reference": 4,
            "paper": {"1": 1.12, "2": 1.76, "4": 1.84}, "paper_env": paper_env,
            "paper_episode": 1000, "log_x": True}


def test_table_divides_each_by_its_reference(tmp_path):
    rows = ablation_table(_results())
    assert rows[0].startswith("| context (episodes) | ours: AD, episodes 181-200 (± over "
                              "training seeds)")
    assert rows[2] == "| 1 | 4.00 ± 0.50 | 0.40 | 1.12 | 0.61 |"
    assert rows[4] == "| 4 | 10.00 ± 0.50 | 1.00 | 1.84 | 1.00 |"
    r = {**_results(), "paper": {}, "reference": None}
    assert ablation_table(r)[2] == "| 1 | 4.00 ± 0.50 | - | - | - |"
    for res in (_results(), r):
        path = plot_ablation(res, tmp_path / f"{len(res['paper'])}.png")
        assert path.stat().st_size > 5000


def test_report_says_which_values_are_still_to_run(tmp_path):
    from adjax.report.reproduction import ablation_lines

    r = {**_results(), "name": "context_size", "command": "c", "base_preset": "quick",
         "train_seeds": 3, "eval_seeds": 20, "note": "", "complete": False,
         "values": ["0.4", "1", "2", "4"]}
    path = tmp_path / "ablations" / "context_size" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(r))
    text = "\n".join(ablation_lines(tmp_path))
    assert "Partial: 3 of 4 values measured; 0.4 still to run" in text
    assert "2 episodes at least 90% of 4 episodes' return: missed (0.80)" in text
    # points without today's configuration digest are said to be of an earlier configuration
    assert "earlier configuration of the quick preset (not today's; the same command reruns " \
           "them): 1, 2, 4." in text
    from adjax.experiments.ablation import config_digest

    quick = context_size.quick()
    for pt in r["points"]:
        pt["config"] = config_digest(quick.variant(float(pt["label"]) if "." in pt["label"]
                                                   else int(pt["label"])))
    path.write_text(json.dumps(r))
    assert "earlier configuration" not in "\n".join(ablation_lines(tmp_path))


def test_a_sweep_continues_from_its_published_points(tmp_path, monkeypatch):
    """Each value is published as it lands; a later sweep with runs/ gone takes the values
    published with the same configuration and runs only the others."""
    import dataclasses

    import numpy as np

    from adjax.atomic import read_json
    from adjax.experiments import ablation, label_smoothing

    ran = []

    def fake_run(cfg, run_dir, **kw):
        ran.append(cfg.train_ad.label_smoothing)
        curve = np.full((2, 4), cfg.train_ad.label_smoothing).tolist()
        return {"curves": {"test": {"AD": {"per_seed": curve, "num_tasks": 3}}},
                "wall_time_s": {"train AD seed 0": 1.0, "this_invocation": 0.1}}

    monkeypatch.setattr(ablation, "run_experiment", fake_run)
    abl = label_smoothing.tiny()
    pub = tmp_path / "published" / abl.name
    ablation.run_ablation(abl, tmp_path / "runs", tmp_path / "nobase", published=pub)
    assert ran == [0.0, 0.2] and read_json(pub / "results.json")["complete"]
    first = read_json(pub / "results.json")["points"]
    assert first[0]["wall_time_s"] == {"train AD seed 0": 1.0}  # a resume would make it ~0

    ran.clear()
    more = dataclasses.replace(abl, values=(0.0, 0.1, 0.2))
    res = ablation.run_ablation(more, tmp_path / "runs2", tmp_path / "nobase", published=pub)
    assert ran == [0.1]  # 0 and 0.2 were published with the same configuration
    assert res["points"][0] == first[0] and res["points"][2] == first[1]
    assert [p["label"] for p in read_json(pub / "results.json")["points"]] == ["0", "0.1", "0.2"]
    # each point names its machine; the file names theirs, or each one's when they differ
    assert res["machine"] == first[0]["machine"] == ablation.machine()
    from adjax.experiments.ablation import _machines

    assert _machines([{**first[0], "machine": "A"}, {**first[1], "machine": "B"}]) == (
        "several: 0 on A; 0.2 on B")


def test_the_cost_of_make_ablations_counts_linked_seeds_at_the_base_runs_time(tmp_path):
    from adjax.report.ablations import compute_lines

    r = {**_results(), "experiment": "darkroom", "train_seeds": 2,
         "values": ["1", "2", "4", "8"]}
    r["points"][0]["wall_time_s"] = {"train AD seed 0": 1000.0, "train AD seed 1": 800.0,
                                     "evaluate test tasks, AD seed 0": 60.0,
                                     "this_invocation": 9999.0}  # not a stage: not counted
    r["points"][1]["wall_time_s"] = {"train AD seed 0": 1200.0}  # seed 1 linked
    r["points"][2]["wall_time_s"] = {"evaluate test tasks, AD seed 0": 40.0}  # both linked
    (tmp_path / "ablations" / "masking").mkdir(parents=True)
    (tmp_path / "ablations" / "masking" / "results.json").write_text(json.dumps(r))
    assert compute_lines(tmp_path)[-3] == (  # no base run: the linked seeds are not counted
        "| masking | 3 of 4 | 0.86 | 3 (the base run's training time is not recorded: not "
        "counted) | 0.86 + 1 value(s) to run |")
    (tmp_path / "darkroom").mkdir()
    (tmp_path / "darkroom" / "results.json").write_text(json.dumps(
        {"wall_time_s": {"train AD seed 0": 500.0, "train AD seed 1": 700.0,
                         "train ED seed 0": 5000.0}}))
    lines = compute_lines(tmp_path)
    # own 3100 s + 3 linked seeds x 600 s = 4900 s = 1.36 h
    assert lines[-3] == "| masking | 3 of 4 | 0.86 | 3 x 10 min | 1.36 + 1 value(s) to run |"
    assert lines[-2] == "| all | | | | 1.36 + 1 value(s) to run |"


def test_a_sweep_stopped_midway_never_publishes_less_than_it_found(tmp_path, monkeypatch):
    """Published points of values the sweep has not reached yet stay published, and every
    paths figure is drawn from the published records as the sweep found them (not as its own
    first write left them)."""
    import dataclasses

    import numpy as np

    from adjax.atomic import read_json, write_json
    from adjax.experiments import ablation, label_smoothing

    def fake_run(cfg, run_dir, **kw):
        if cfg.train_ad.label_smoothing == 0.1:
            raise KeyboardInterrupt  # the session ends while 0.1 trains
        curve = np.full((2, 4), cfg.train_ad.label_smoothing).tolist()
        return {"curves": {"test": {"AD": {"per_seed": curve, "num_tasks": 3}}},
                "wall_time_s": {"train AD seed 0": 1.0}}

    seen = []
    monkeypatch.setattr(ablation, "run_experiment", fake_run)
    monkeypatch.setattr(ablation, "_paths_figure",
                        lambda abl, points, out, before, seed0_runs=None: seen.append(before))
    abl = label_smoothing.tiny()  # values 0 and 0.2
    pub = tmp_path / "published" / abl.name
    ablation.run_ablation(abl, tmp_path / "runs", tmp_path / "nobase", published=pub)
    records = {ablation.config_digest(abl.variant(v)): {"label": str(v)} for v in (0.0, 0.2)}
    write_json(pub / "figures" / f"{abl.name}_paths.json", {"values": records})
    seen.clear()
    more = dataclasses.replace(abl, values=(0.0, 0.1, 0.2))
    with pytest.raises(KeyboardInterrupt):
        ablation.run_ablation(more, tmp_path / "runs2", tmp_path / "nobase", published=pub)
    after = read_json(pub / "results.json")
    assert [p["label"] for p in after["points"]] == ["0", "0.2"] and not after["complete"]
    assert seen == [records]  # the one write (after 0) saw both published records


def test_values_varying_several_settings_get_a_panel_per_setting(tmp_path):
    from adjax.experiments.ablation import _write

    abl = model_size.tiny()  # values d16 and l2; its series name d32 ... h8 too
    pts = [{"value": v, "label": v, "x": 1e4 * (i + 1), "final": 1.0 + i, "ci95": 0.1,
            "interval_over": "evaluation", "machine": "m"} for i, v in enumerate(abl.values)]
    res = _write(abl, pts, tmp_path, complete=True)
    assert res["series"]["layers"] == [["l2", 2], ["d64", 4], ["l8", 8]]
    assert (tmp_path / "figures" / "model_size.png").stat().st_size > 5000
