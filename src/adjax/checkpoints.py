"""A trained run's directory, read and written the same way by the trainers (AD's `adjax.train`,
`adjax.rl2`) and by everything that loads what they trained (evaluation, experiments, reports):

    RUN_DIR/config.json              what was trained (model, train settings, data)
    RUN_DIR/checkpoints/STEP/        orbax checkpoints of the whole train state
    RUN_DIR/checkpoints.sha256.json  {step: {file under checkpoints/STEP: sha256}}
    RUN_DIR/metrics.jsonl            one JSON record per logged step

Loading a trained AD model needs the model's config and its variables only, so `load_run`
restores the "params" subtree of a checkpoint against the model's own shapes: evaluation does not
depend on the trainer, its optimiser or its state layout.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from adjax import distributed
from adjax.atomic import read_json, sha256_file, write_json, write_text
from adjax.model import ModelConfig, init_params

CONFIG = "config.json"
SUMS = "checkpoints.sha256.json"


class RunConfigError(ValueError):
    """The run directory, dataset and configs do not fit together."""


class UnreadableCheckpoint(RunConfigError):
    """A checkpoint whose files cannot be read (truncated or missing), found by reading it: one
    killed between its save and its checksum record. Training moves it aside; loading refuses."""


def _leaf_name(path) -> str:
    """"params.params.Dense_0.kernel": a pytree path as orbax's metadata names it (dict keys,
    attribute names and sequence indices alike)."""
    return ".".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _stored_shapes(step_dir: Path) -> dict:
    """{leaf name: shape} of checkpoint `step_dir` as its metadata records them (no array is read).
    Raises whatever orbax raises for missing or damaged metadata."""
    tree = ocp.StandardCheckpointHandler().metadata(step_dir / "default").tree
    return {_leaf_name(p): tuple(x.shape)
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def restore(mgr, step: int, target, *, partial: bool = False):
    """Checkpoint `step` of `mgr` restored onto `target`, a pytree of jax.ShapeDtypeStruct (with
    the shardings to place it on); `partial`: `target` is a subtree of what was saved (e.g.
    {"params": ...} of a whole train state).

    The checkpoint's recorded shapes are compared with the target's before any array is read, so
    the two ways a restore fails are told apart (tensorstore reports both as a ValueError):
    - a checkpoint of another model (a leaf missing, or of another shape) is a RunConfigError
      naming the leaf: the caller stops, and nothing is moved or redone;
    - a checkpoint that fits but cannot be read (metadata or array files truncated, missing or
      corrupt: one killed between its save and its checksum record) is an UnreadableCheckpoint:
      training moves it aside and redoes it from the one before; loading refuses it."""
    step_dir = Path(mgr.directory) / str(step)
    try:
        stored = _stored_shapes(step_dir)
    except Exception as e:  # noqa: BLE001 (orbax/tensorstore raise many types for damaged files)
        raise UnreadableCheckpoint(f"{step_dir}: unreadable checkpoint metadata ({e})") from e
    for path, leaf in jax.tree_util.tree_flatten_with_path(target)[0]:
        name = _leaf_name(path)
        if name not in stored:
            raise RunConfigError(f"checkpoint {step} in {mgr.directory} does not fit this model: "
                                 f"it has no {name}")
        if stored[name] != tuple(leaf.shape):
            raise RunConfigError(f"checkpoint {step} in {mgr.directory} does not fit this model: "
                                 f"{name} is stored with shape {stored[name]}, the model's is "
                                 f"{tuple(leaf.shape)}")
    if partial:
        args = ocp.args.PyTreeRestore(
            target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
            partial_restore=True)
    else:
        args = ocp.args.StandardRestore(target)
    try:
        return mgr.restore(step, args=args)
    except Exception as e:  # noqa: BLE001 (as above; the shapes fit, so this is damage)
        raise UnreadableCheckpoint(f"{step_dir}: unreadable checkpoint ({e})") from e


def checkpoint_steps(run_dir) -> list[int]:
    """The steps of a run's saved checkpoints, ascending ([] for none, or no such run); a save in
    progress (orbax's tmp directory) is not one."""
    ckpts = Path(run_dir) / "checkpoints"
    if not ckpts.is_dir():
        return []
    return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())


def latest_step(run_dir) -> int | None:
    """The step of a run's latest saved checkpoint; None without one (or without a run)."""
    steps = checkpoint_steps(run_dir)
    return steps[-1] if steps else None


def checkpoint_manager(run_dir, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        (Path(run_dir) / "checkpoints").absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def _step_files(step_dir: Path) -> dict:
    return {str(f.relative_to(step_dir)): sha256_file(f)
            for f in sorted(step_dir.rglob("*")) if f.is_file()}


def record_checksums(mgr, run_dir: Path, saved: int | None = None) -> None:
    """Wait for the pending save, then record in RUN_DIR/checkpoints.sha256.json, atomically,
    the sha256 of every file of the checkpoint just `saved` and of any other not yet recorded,
    and forget deleted ones (process 0 of a multi-process job; the others only wait)."""
    mgr.wait_until_finished()
    if not distributed.is_main():
        return
    path, ckpt = run_dir / SUMS, run_dir / "checkpoints"
    sums = read_json(path, RunConfigError) if path.exists() else {}
    steps = {str(s) for s in mgr.all_steps()}
    new = {s: v for s, v in sums.items() if s in steps and s != str(saved)}
    for s in steps - set(new):
        new[s] = _step_files(ckpt / s)
    if new != sums:
        write_json(path, new)


def checkpoint_problem(run_dir: Path, step: int) -> str | None:
    """None when checkpoint `step`'s files match their recorded sha256 (or none were recorded:
    a run from before the checksums, or killed between a save and its record); otherwise what is
    wrong, naming the file."""
    path = run_dir / SUMS
    if not path.exists():
        return None
    try:
        want = json.loads(path.read_text()).get(str(step))
    except (ValueError, AttributeError):
        return f"{path}: unreadable checksums (truncated or corrupted)"
    if want is None:
        return None
    step_dir = run_dir / "checkpoints" / str(step)
    for name, digest in want.items():
        f = step_dir / name
        if not f.is_file():
            return f"{f}: missing checkpoint file"
        if sha256_file(f) != digest:
            return f"{f}: sha256 mismatch, the checkpoint file was altered or corrupted"
    return None


def check_intact(run_dir: Path, step: int) -> None:
    """For loading: a checkpoint whose files differ from their recorded sha256 is an error
    naming the file, never a silent fallback to another step (that would give other numbers)."""
    problem = checkpoint_problem(run_dir, step)
    if problem is not None:
        raise RunConfigError(f"{problem} (rerun the training command to redo it from the "
                             "previous checkpoint)")


def resume(run_dir: Path, max_to_keep: int | None, restore_fn):
    """(manager, the latest intact checkpoint's state or None): a trainer's resume.
    `restore_fn(mgr, step)` restores one step (through `restore`). A damaged checkpoint (files
    that differ from their recorded sha256, or an UnreadableCheckpoint) is moved to
    RUN_DIR/corrupt/ with a warning naming its file and the previous one is used: training is
    deterministic, so the steps redone give the same bits. A checkpoint of another model stops
    with restore's RunConfigError; nothing is moved."""
    run_dir = Path(run_dir)
    while True:
        mgr = checkpoint_manager(run_dir, max_to_keep)
        step = mgr.latest_step()
        if step is None:
            return mgr, None
        problem = checkpoint_problem(run_dir, step)
        if problem is None:
            try:
                return mgr, restore_fn(mgr, step)
            except UnreadableCheckpoint as e:
                problem = str(e)
        mgr.close()
        if not distributed.is_main():  # process 0 moves it aside; the others wait for that
            distributed.barrier(f"adjax-resume-aside-{step}")
            continue
        aside = run_dir / "corrupt" / f"{step}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        aside.parent.mkdir(exist_ok=True)
        os.replace(run_dir / "checkpoints" / str(step), aside)
        sums = run_dir / SUMS  # its record goes with it (a new save of the step gets its own)
        if sums.exists():
            try:
                write_json(sums, {k: v for k, v in json.loads(sums.read_text()).items()
                                  if k != str(step)})
            except ValueError:
                sums.unlink()
        msg = f"{problem}; moved to {aside}, resuming from the previous checkpoint"
        warnings.warn(msg, stacklevel=3)
        print(f"warning: {msg}", file=sys.stderr, flush=True)
        distributed.barrier(f"adjax-resume-aside-{step}")


def truncate_metrics(path: Path, last_step: int, key: str = "step") -> None:
    """Keep the metrics lines (JSON records) whose `key` is <= last_step: those of the checkpoint
    resumed from. A last line
    cut short by a kill is dropped; an unreadable line before it is an error naming the file."""
    if not path.exists():
        return
    text = path.read_text()
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        warnings.warn(f"{path}: dropped a partial last line (the writer was interrupted)",
                      stacklevel=3)
        lines = lines[:-1]
    kept = []
    for i, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        try:
            rec = json.loads(ln)
            step = int(rec[key])
        except (ValueError, KeyError, TypeError) as e:
            raise RunConfigError(f"{path}: line {i} is not a metrics record ({e}); the file is "
                                 "corrupted (delete it or the run directory)") from e
        if step <= last_step:
            kept.append(ln)
    write_text(path, "".join(ln + "\n" for ln in kept))


def changed(old: dict, new: dict, ignore=()) -> dict:
    """{field: (old value, new value)} of the fields of `new` whose stored value differs (a
    field `old` lacks counts as None), except those in `ignore`: what a run directory's stored
    config says against the one it is resumed with."""
    return {k: (old.get(k), v) for k, v in new.items() if k not in ignore and old.get(k) != v}


def read_config(run_dir) -> dict:
    """RUN_DIR/config.json; a missing or damaged one is a RunConfigError naming the file."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise RunConfigError(f"{path}: not a run directory (no {CONFIG})")
    return read_json(path, RunConfigError)


def load_run(run_dir, step: int | None = None) -> tuple[ModelConfig, dict, dict]:
    """(model_cfg, variables, config.json dict with "step") of an AD run's latest (or given)
    checkpoint. Only the model's variables are read (not the optimiser's state), onto this
    process's first device; a checkpoint whose files differ from their recorded checksums is an
    error, never a silent fallback to another step (that would give other numbers)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    model_cfg = ModelConfig.from_dict(config["model"])
    step = latest_step(run_dir) if step is None else step
    if step is None:
        raise RunConfigError(f"{run_dir / 'checkpoints'}: no checkpoint to load")
    check_intact(run_dir, step)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    shapes = jax.eval_shape(lambda: init_params(model_cfg, jax.random.key(0)))
    target = {"params": jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), shapes)}
    mgr = ocp.CheckpointManager((run_dir / "checkpoints").absolute())
    try:
        restored = restore(mgr, step, target, partial=True)
    finally:
        mgr.close()
    return model_cfg, restored["params"], {**config, "step": step}
