"""Choices on the validation tasks: a preset's variants, each evaluated on "val" only, as JSON.

    python -m adjax.experiments.sweep darkroom --name peak_lr \
        --set train_ad.peak_lr=3e-4 train_ad.peak_lr=1e-3

Each `--set FIELD.PATH=VALUE` is one variant of the preset (a nested `ExperimentConfig` field; the
value is read as JSON, else kept as a string); each `--fix FIELD.PATH=VALUE` applies to every
variant (`--fix train_ed=null`: AD alone, when the choice is AD's). A variant runs into
runs/sweeps/<experiment>/<name>/ with its evaluation cut down to the validation split, so a sweep
never touches the held-out tasks; the validation summaries go to
experiments/<experiment>/sweeps/<name>.json, beside the results of the preset that used them
(<experiment> as the preset's runs are laid out: key_to_door for quick, a3c/key_to_door for a3c).

`--preset` is any of the experiment's presets (`--preset a3c` for the paper's source). Variants
that collect the same data share one dataset (runs/sweeps/<experiment>/<name>/data-<hash>), and
`--base-run DIR` (a run of the same preset, e.g. runs/a3c/key_to_door) lends its datasets and,
to a variant whose AD is its AD, its trained AD seeds (`adjax.experiments.reuse`): a Key-to-Door
a3c sweep then collects nothing (the collection alone is ~20 min here).
"""

import dataclasses
import json
import re
from pathlib import Path

import tyro

from adjax.atomic import one_line_errors, write_json
from adjax.experiments.command import with_overrides
from adjax.experiments.common import ExperimentConfig, command
from adjax.experiments.reproduce import preset_dir, presets
from adjax.experiments.reuse import link_base_ad, shared_data_dir
from adjax.experiments.runner import run_experiment
from adjax.stats import curve_summary


def override(cfg, path: str, value, _full: str | None = None):
    """cfg with the nested dataclass field `path` ("train_ad.peak_lr") set to value (`checked`).
    Errors name the whole path."""
    full = _full or path
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(cfg) or head not in {f.name for f in dataclasses.fields(cfg)}:
        raise ValueError(f"--set {full}: {type(cfg).__name__} has no field {head!r}")
    current = getattr(cfg, head)
    value = override(current, rest, value, full) if rest else checked(full, current, value)
    return dataclasses.replace(cfg, **{head: value})


def checked(path: str, current, value):
    """value for a field now holding current: an int where a float is (as a float), else of
    current's type (any value where the field holds None). ValueError naming path otherwise, so
    that "lr=abc" stops here and not deep inside a run."""
    if type(current) is float and type(value) is int:  # "lr=1" on a float field
        return float(value)
    bool_for_number = type(value) is bool and type(current) in (int, float)
    if current is None or value is None or (isinstance(value, type(current))
                                             and not bool_for_number):
        return value
    raise ValueError(f"--set {path}={value!r}: expected {type(current).__name__} (like the "
                     f"current value {current!r})")


def parse(assignment: str) -> tuple[str, object]:
    """"train_ad.peak_lr=1e-3" -> ("train_ad.peak_lr", 0.001); values are JSON, else strings."""
    path, sep, text = assignment.partition("=")
    if not sep or not path:
        raise ValueError(f"--set {assignment!r}: expected FIELD.PATH=VALUE")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return path, tuple(value) if isinstance(value, list) else value


def apply(cfg, assignments):
    """cfg (any dataclass) with every "FIELD.PATH=VALUE" of assignments set (`parse`, then
    `override`): a sweep variant's `--set`, and the probe scripts' under experiments/."""
    for a in assignments:
        cfg = override(cfg, *parse(a))
    return cfg


def validation_only(cfg: ExperimentConfig) -> ExperimentConfig:
    """The config evaluated on its "val" split alone (an error if it has none): no other split,
    no refresh check, and no source-from-scratch curve of another split (the source's learning
    is no variant's, and its held-out curve is not a sweep's to compute)."""
    val = [se for se in cfg.eval.splits if se.split == "val"]
    if not val:
        raise ValueError(f"{cfg.name}: the preset evaluates no 'val' split to choose on")
    return dataclasses.replace(
        cfg, eval=dataclasses.replace(cfg.eval, splits=tuple(val), refresh_check=None),
        source_curves=tuple(sc for sc in cfg.source_curves if sc.split == "val"))


def sweep(experiment: str, name: str, assignments, preset: str = "quick", seeds: int = 1,
          runs: Path = Path("runs/sweeps"), publish: Path = Path("experiments"),
          progress: bool = True, fixed=(), base_run: Path | None = None) -> Path:
    """Run every variant (checked before any compute) and write the validation summaries.
    fixed: assignments applied to the preset before each variant's; base_run: a run whose
    datasets and trained AD seeds the variants reuse where they are theirs (module doc)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"--name {name!r}: use letters, digits, '_', '-', '.'")
    known = presets(experiment)
    if preset not in known:
        raise ValueError(f"--preset {preset!r}: {experiment} has presets {', '.join(known)}")
    if base_run is not None and not (Path(base_run) / "experiment.json").exists():
        raise FileNotFoundError(f"--base-run {base_run}: no experiment.json there")
    base = apply(with_overrides(known[preset](), seeds=seeds), fixed)
    variants = []
    for a in assignments:
        variants.append((a, validation_only(apply(base, [a]))))
    where = preset_dir(experiment, preset)
    rows, root = [], runs / where / name
    for a, cfg in variants:
        run_dir = root / re.sub(r"[^A-Za-z0-9_.=-]+", "_", a)
        if link_base_ad(cfg, run_dir, base_run):
            print(f"[{a}] AD is {base_run}'s: its trained seeds linked", flush=True)
        res = run_experiment(cfg, run_dir, preset=preset, progress=progress,
                             data_dir=shared_data_dir(cfg, root, base_run))
        rows.append({"set": a, "summary": {k: v for k, v in res["summary"].items()
                                           if k.endswith(" val")},
                     # each training seed's last 10%, so variants compare seed by seed
                     "last_10pct_per_unit": {
                         m: curve_summary(c)["last_10pct_per_unit"]
                         for m, c in res["curves"]["val"].items()
                         if isinstance(c, dict) and "per_seed" in c}})
    out = publish / where / "sweeps" / f"{name}.json"
    write_json(out, {"experiment": experiment, "preset": preset, "train_seeds": seeds,
                     "split": "val", "fixed": list(fixed), "command": command(),
                     "base_run": None if base_run is None else str(base_run),
                     "variants": rows}, checksum=True)
    return out


@dataclasses.dataclass(frozen=True)
class Args:
    """Run a preset's variants on the validation tasks and write their summaries as JSON."""

    experiment: tyro.conf.Positional[str]
    name: str  # the sweep's name: experiments/<experiment>/sweeps/<name>.json
    set: tuple[str, ...]  # one FIELD.PATH=VALUE per variant
    preset: str = "quick"  # any of the experiment's presets (quick, paper, tiny; maybe a3c)
    seeds: int = 1  # training seeds per variant
    fix: tuple[str, ...] = ()  # FIELD.PATH=VALUE applied to every variant (train_ed=null: AD alone)
    base_run: Path | None = None  # a run of the preset whose datasets (and AD) variants reuse


if __name__ == "__main__":
    args = tyro.cli(Args)
    with one_line_errors("python -m adjax.experiments.sweep", hard_exit=True):
        print(sweep(args.experiment, args.name, args.set, args.preset, args.seeds,
                    fixed=args.fix, base_run=args.base_run))
