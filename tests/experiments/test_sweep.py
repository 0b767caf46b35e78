"""The validation sweep: variants of a preset, evaluated on "val" only, summaries as JSON."""

import dataclasses
import json

import pytest

from adjax.experiments import darkroom, key_to_door
from adjax.experiments.sweep import apply, override, parse, sweep, validation_only


def test_override_and_parse():
    cfg = darkroom.tiny()
    path, value = parse("train_ad.peak_lr=1e-3")
    assert (path, value) == ("train_ad.peak_lr", 0.001)
    assert override(cfg, path, value).train_ad.peak_lr == 0.001
    assert override(cfg, "train_ad.peak_lr", 0.001).train_ed == cfg.train_ed
    assert parse("model.layout=one") == ("model.layout", "one")
    with pytest.raises(ValueError, match="has no field 'peak'"):
        override(cfg, "train_ad.peak", 1)
    with pytest.raises(ValueError, match="expected FIELD.PATH=VALUE"):
        parse("train_ad.peak_lr")


def test_apply_sets_each_assignment_keeping_float_fields_float():
    cfg = apply(darkroom.tiny(), ["train_ad.peak_lr=1", "train_ad.num_steps=7", "model.layout=one"])
    assert type(cfg.train_ad.peak_lr) is float and cfg.train_ad.peak_lr == 1.0
    assert cfg.train_ad.num_steps == 7 and cfg.model.layout == "one"
    assert apply(cfg.train_ed, ["batch_size=3"]).batch_size == 3  # any dataclass, top-level field
    assert apply(cfg, ["train_ed=null"]).train_ed is None  # `--fix train_ed=null`: AD alone
    with pytest.raises(ValueError, match="has no field 'nope'"):
        apply(cfg, ["train_ad.nope=1"])
    for bad, want in (("train_ad.peak_lr=abc", "expected float"),
                      ("train_ad.num_steps=1.5", "expected int"),
                      ("train_ad.num_steps=true", "expected int"),
                      ("model.layout=3", "expected str")):
        with pytest.raises(ValueError, match=f"--set {bad.split('=')[0]}=.*: {want}"):
            apply(cfg, [bad])


def test_validation_only_drops_every_other_split():
    cfg = darkroom.tiny()
    val = validation_only(cfg)
    assert [se.split for se in val.eval.splits] == ["val"] and val.eval.refresh_check is None
    a3c = key_to_door.a3c()
    assert {sc.split for sc in a3c.source_curves} == {"test"}  # what the sweep must not run
    assert validation_only(a3c).source_curves == ()
    head_only = dataclasses.replace(cfg.eval, splits=cfg.eval.splits[:1])
    no_val = dataclasses.replace(cfg, eval=head_only)
    with pytest.raises(ValueError, match="no 'val' split"):
        validation_only(no_val)


@pytest.mark.slow  # three minutes on a shared 2-core CPU
def test_sweep_touches_only_the_validation_tasks(tmp_path):
    out = sweep("darkroom", "steps", ["train_ad.num_steps=2", "train_ad.num_steps=4"],
                preset="tiny", runs=tmp_path / "runs", publish=tmp_path / "pub", progress=False,
                fixed=("train_ed=null",))
    d = json.loads(out.read_text())
    assert out == tmp_path / "pub" / "tiny" / "darkroom" / "sweeps" / "steps.json"
    assert [v["set"] for v in d["variants"]] == ["train_ad.num_steps=2", "train_ad.num_steps=4"]
    assert d["fixed"] == ["train_ed=null"]
    for v in d["variants"]:
        assert set(v["summary"]) == {"AD val", "random val"}  # ED fixed off in every variant
        ad = v["summary"]["AD val"]  # one training seed: the units are its evaluation seeds
        assert ad["interval_over"] == "evaluation"
        assert len(v["last_10pct_per_unit"]["AD"]) == ad["eval_seeds"]
    runs = tmp_path / "runs" / "tiny" / "darkroom" / "steps"
    evaluated = {p.parent.name for p in runs.rglob("eval/*/*.json")}
    assert evaluated == {"val"}  # never the held-out tasks
    # The variants shared one dataset. A base run (here the first variant, its data where an
    # experiment command leaves it) lends its data and, to the variant whose AD is its, its AD.
    (shared,) = runs.glob("data-*")
    assert not list(runs.glob("*/data"))
    base = runs / "train_ad.num_steps=2"
    (base / "data").symlink_to(shared.resolve(), target_is_directory=True)
    out = sweep("darkroom", "again", ["train_ad.num_steps=2", "train_ad.num_steps=3"],
                preset="tiny", runs=tmp_path / "runs", publish=tmp_path / "pub", progress=False,
                fixed=("train_ed=null",), base_run=base)
    again = tmp_path / "runs" / "tiny" / "darkroom" / "again"
    assert (again / "train_ad.num_steps=2" / "runs" / "ad" / "seed0").is_symlink()
    assert (again / "train_ad.num_steps=3" / "runs" / "ad" / "seed0").is_dir()
    assert not (again / "train_ad.num_steps=3" / "runs" / "ad" / "seed0").is_symlink()
    assert not list(again.glob("data-*")) and not list(again.glob("*/data"))
    d = json.loads(out.read_text())
    assert d["base_run"] == str(base)
    assert d["variants"][0]["summary"] == json.loads(
        (tmp_path / "pub" / "tiny" / "darkroom" / "sweeps" / "steps.json").read_text()
    )["variants"][0]["summary"]  # the linked AD, evaluated with the same keys
    with pytest.raises(ValueError, match="darkroom has presets quick, a3c, paper, tiny"):
        sweep("darkroom", "x", ["train_ad.num_steps=2"], preset="a3x", runs=tmp_path / "r")
