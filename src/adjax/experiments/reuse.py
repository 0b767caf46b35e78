"""What runs of related configurations share instead of redoing: the datasets of runs that
collect the same data, and a base run's trained AD seeds where a variant trains the same AD.

Used by the analyses (`adjax.experiments.ablation`: variants of a preset along one axis) and by
the validation sweeps (`adjax.experiments.sweep`). A base run is any experiment directory
(runs/<experiment>, as `make reproduce` leaves it); its experiment.json says what it collected
and trained. A dataset is collected once (a collection is deterministic in its configuration)
and then only read; linked AD seeds are symlinks to the base run's trained seed directories,
made only for seeds whose training is complete (never a run in progress).
"""

import hashlib
import json
from pathlib import Path

from adjax.experiments.common import ExperimentConfig
from adjax.experiments.pipeline import _trained

# The configuration fields that decide what `collect` writes: runs equal on these share data.
# env_config (the env's static settings: Watermaze's resolution, which its datasets record) is
# written by `ExperimentConfig.to_dict` only where set.
DATA_FIELDS = ("env", "source", "data_seeds", "num_train_tasks", "subsample_every", "chunk_size",
               "env_config")


def data_key(cfg: ExperimentConfig) -> dict:
    """The fields of cfg that decide its datasets (as JSON values); env_config only where set,
    so the key, and the name of a shared data directory, of a config without it are as before."""
    d = json.loads(json.dumps(cfg.to_dict()))
    return {k: d.get(k) for k in DATA_FIELDS if k in d or k != "env_config"}


def same_ad(a: dict, b: dict) -> bool:
    """Two experiment configs (as dicts) train the same AD: same data, model and training."""
    return all(a.get(k) == b.get(k) for k in (*DATA_FIELDS, "model", "train_ad"))


def base_config(base_dir: Path | None) -> dict | None:
    """A base run's experiment.json (None when there is no run there)."""
    path = None if base_dir is None else Path(base_dir) / "experiment.json"
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def shared_data_dir(cfg: ExperimentConfig, out: Path, base_dir: Path | None) -> Path:
    """Where a run of cfg finds its datasets: the base run's data directory when the base run
    collects the same data (base_dir/data, as the experiment commands lay it out; collected
    there if it is not yet, which is what the base run itself would write), else
    out/data-<digest of the data fields>, shared by every run under out that collects the same."""
    base, key = base_config(base_dir), data_key(cfg)
    if base is not None and all(base.get(k) == v for k, v in key.items()):
        return Path(base_dir) / "data"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return Path(out) / f"data-{digest[:10]}"


def link_base_ad(cfg: ExperimentConfig, run_dir: Path, base_dir: Path | None) -> int:
    """Link the base run's trained AD seeds into run_dir when they are cfg's AD (returns how
    many); a seed already there is left alone."""
    base = base_config(base_dir)
    if base is None or not same_ad(base, json.loads(json.dumps(cfg.to_dict()))):
        return 0
    linked = 0
    for k in cfg.seeds:
        src = Path(base_dir) / "runs" / "ad" / f"seed{k}"
        dst = Path(run_dir) / "runs" / "ad" / f"seed{k}"
        if _trained(src, cfg.train_ad.num_steps) and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve(), target_is_directory=True)
            linked += 1
    return linked
