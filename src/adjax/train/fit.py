"""fit: the training loop with run directory, metrics, resumable orbax checkpoints (whose layout
and checksums `adjax.checkpoints` keeps, with `load_run`)."""

import contextlib
import json
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

from adjax import distributed
from adjax.atomic import disk_errors, read_json, write_json
from adjax.checkpoints import (
    RunConfigError,
    changed,
    record_checksums,
    restore,
    resume,
    truncate_metrics,
)
from adjax.lock import run_lock
from adjax.model import ModelConfig
from adjax.train.config import (
    RESUMABLE_FIELDS,
    TrainConfig,
    check_state_loss,
    schedule,
    with_defaults,
)
from adjax.train.step import (
    TrainState,
    cached_train_chunk,
    data_mesh,
    init_state,
    local_rows,
    replicate,
    to_device,
)
from adjax.train.windows import Arrays, as_arrays, read_rows


def data_summary(arrays: Arrays, model_cfg: ModelConfig) -> dict:
    """config.json's "data": the env (and its make kwargs, where not the defaults) and sizes."""
    return {"env": arrays.env_name, "kind": arrays.kind, "obs_dims": list(model_cfg.obs_dims),
            "num_actions": model_cfg.num_actions, "episode_len": arrays.episode_len,
            "num_histories": arrays.num_histories, "history_len": arrays.history_len,
            **({"env_kwargs": dict(arrays.env_kwargs)} if arrays.env_kwargs else {})}


def check_data(arrays: Arrays, model_cfg: ModelConfig, train_cfg: TrainConfig,
               rows: tuple[int, int] | None = None) -> None:
    """Clear errors, before any compute, for data that does not fit the model or the devices.
    rows: the histories [lo, hi) whose values are read (a process of a multi-process job reads
    only its own; default all)."""
    c, ep = model_cfg.context_len, arrays.episode_len
    if c < ep and not train_cfg.allow_short_context:
        raise RunConfigError(f"context_len {c} steps is shorter than one episode ({ep} steps); "
                             "set allow_short_context=True for the context-size ablation")
    if c > arrays.history_len:
        raise RunConfigError(f"context_len {c} > history length {arrays.history_len}")
    image = model_cfg.obs_encoder == "image"
    frame = (arrays.render.frame_shape if arrays.render is not None else
             tuple(arrays.obs.shape[2:]) if arrays.obs.ndim == 5 else None)
    if image and frame != model_cfg.obs_dims:
        raise RunConfigError(f"the model's image encoder takes frames {model_cfg.obs_dims}; the "
                             f"dataset's observations are " + (
                                 f"frames {frame}" if frame else "not frames (discrete: use "
                                 "obs_encoder 'discrete' or 'factored')"))
    if not image and frame is not None:
        raise RunConfigError(f"the dataset's observations are frames {frame}; the model needs "
                             f"obs_encoder 'image' (it has {model_cfg.obs_encoder!r})")
    if not image and arrays.obs.shape[-1] != len(model_cfg.obs_dims):
        raise RunConfigError(f"obs has {arrays.obs.shape[-1]} components, model obs_dims "
                             f"{model_cfg.obs_dims}")
    if arrays.obs_dims is not None and tuple(arrays.obs_dims) != model_cfg.obs_dims:
        raise RunConfigError(f"dataset obs_dims {arrays.obs_dims} != model {model_cfg.obs_dims}")
    if arrays.num_actions is not None and arrays.num_actions != model_cfg.num_actions:
        raise RunConfigError(f"dataset has {arrays.num_actions} actions, model "
                             f"{model_cfg.num_actions}")
    try:
        check_state_loss(model_cfg, train_cfg)
    except ValueError as e:
        raise RunConfigError(str(e)) from None
    if train_cfg.state_loss and (arrays.render is None
                                 or arrays.render.num_features != model_cfg.state_head):
        raise RunConfigError(
            f"state_loss needs a dataset that stores renderer state, whose features have "
            f"state_head = {model_cfg.state_head} components; this one " + (
                "stores its observations as seen" if arrays.render is None else
                f"has {arrays.render.num_features}"))
    n = jax.device_count()
    if train_cfg.batch_size % n:
        raise RunConfigError(f"batch_size {train_cfg.batch_size} is not divisible by {n} devices")
    lo, hi = rows or (0, arrays.num_histories)
    obs_max, obs_min, act_max = np.full(arrays.obs.shape[-1], -1), 0, 0
    step = max(1, (64 << 20) // max(1, arrays.obs.itemsize * int(np.prod(arrays.obs.shape[1:]))))
    for a in range(lo, hi, step):  # read, not mapped: the process keeps none of it
        if not image:  # indices must fit their embeddings (any pixel or stored state does)
            obs = read_rows(arrays.obs, a, min(hi, a + step))
            obs_max, obs_min = np.maximum(obs_max, obs.max(axis=(0, 1))), min(obs_min, obs.min())
        act_max = max(act_max, int(read_rows(arrays.actions, a, min(hi, a + step)).max()))
    if not image and (np.any(obs_max >= np.asarray(model_cfg.obs_dims)) or obs_min < 0):
        raise RunConfigError(f"obs values up to {obs_max} do not fit obs_dims {model_cfg.obs_dims}")
    if act_max >= model_cfg.num_actions:
        raise RunConfigError(f"actions up to {act_max} >= num_actions {model_cfg.num_actions}")


def write_or_check_config(run_dir: Path, config: dict) -> None:
    """Write config.json, or check an existing run's against it (env, model, train). In a
    multi-process job every process checks, process 0 writes."""
    path = run_dir / "config.json"
    config = json.loads(json.dumps(config))  # tuples -> lists, as stored
    if not path.exists():
        if distributed.is_main():
            write_json(path, config, indent=2)
        return
    old = read_json(path, RunConfigError)
    old["model"] = with_defaults(ModelConfig, old["model"])
    old["train"] = with_defaults(TrainConfig, old["train"])
    if old["data"]["env"] != config["data"]["env"]:
        raise RunConfigError(f"{path}: run was trained on env {old['data']['env']!r}, this dataset "
                             f"is {config['data']['env']!r}")
    if diff := changed(old["model"], config["model"]):
        raise RunConfigError(f"{path}: existing checkpoint has another model (old, new): {diff}")
    if diff := changed(old["train"], config["train"], ignore=RESUMABLE_FIELDS):
        raise RunConfigError(f"{path}: resuming with another TrainConfig (old, new): {diff}")
    if old != config and distributed.is_main():
        write_json(path, config, indent=2)


def restore_state(mgr, step: int, model_cfg, train_cfg, sharding=None) -> TrainState:
    """Restore the full train state of `step` onto an abstract target built from the configs:
    `sharding` (any mesh: another number of devices or processes than the run was saved from),
    by default this process's first device."""
    abstract = jax.eval_shape(lambda: init_state(model_cfg, train_cfg))
    sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                            abstract)
    return restore(mgr, step, abstract)


def fit(train_cfg: TrainConfig, model_cfg: ModelConfig, data, run_dir, *, stop_at=None,
        progress: bool = True) -> dict:
    """Train (or resume) in run_dir until train_cfg.num_steps (or stop_at) -> params.

    data: an `adjax.data.Dataset` or `Arrays`. Raises RunConfigError before compute on mismatches
    and FloatingPointError on a non-finite loss (the last good checkpoint is kept).

    In a multi-process job (`adjax.distributed`) every process calls fit with the same
    arguments: one data-parallel run over all their devices, each process reading only its share
    of the histories; process 0 writes config, metrics and checksums, all write the checkpoints.
    """
    arrays, run_dir = as_arrays(data), Path(run_dir)
    mesh = data_mesh(jax.local_device_count())
    check_data(arrays, model_cfg, train_cfg, local_rows(arrays.num_histories, mesh))
    # one writer per run directory, the second told at once (process 0 for a whole job)
    lock = run_lock(run_dir) if distributed.is_main() else contextlib.nullcontext()
    with lock:
        return _fit(train_cfg, model_cfg, arrays, run_dir, mesh, stop_at, progress)


def _fit(train_cfg, model_cfg, arrays, run_dir: Path, mesh, stop_at, progress: bool):
    write_or_check_config(run_dir, {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
                                    "data": data_summary(arrays, model_cfg)})
    main, single = distributed.is_main(), jax.process_count() == 1
    repl = None if mesh is None else jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    chunk = cached_train_chunk(model_cfg, train_cfg, jax.device_count())
    mgr, state = resume(run_dir, train_cfg.max_to_keep,
                        lambda mgr, step: restore_state(mgr, step, model_cfg, train_cfg, repl))
    metrics_path = run_dir / "metrics.jsonl"
    if state is None:
        state = replicate(init_state(model_cfg, train_cfg), mesh) if repl is not None else (
            init_state(model_cfg, train_cfg))
    if main:
        truncate_metrics(metrics_path, -1 if mgr.latest_step() is None else mgr.latest_step())
    device_data = to_device(arrays, mesh)
    end = min(train_cfg.num_steps, stop_at or train_cfg.num_steps)
    step = int(state.step)
    lr_fn, tokens_per_step = schedule(train_cfg), (
        train_cfg.batch_size * model_cfg.context_len * model_cfg.tokens_per_step)
    bar = tqdm(total=end, initial=step, disable=not (progress and main), desc="train", unit="step",
               mininterval=1.0)
    acc_m, t_log, n_log = [], time.perf_counter(), 0
    try:
        while step < end:
            nxt = min(end, (step // train_cfg.steps_per_call + 1) * train_cfg.steps_per_call,
                      (step // train_cfg.log_every + 1) * train_cfg.log_every,
                      (step // train_cfg.ckpt_every + 1) * train_cfg.ckpt_every)
            new_state, m = chunk(state, device_data, nxt - step)
            m = jax.tree.map(np.asarray, m)  # blocks on the loss every call
            if not (np.all(np.isfinite(m["loss"])) and np.all(np.isfinite(m["grad_norm"]))):
                bad = step + int(np.argmin(np.isfinite(m["loss"]) & np.isfinite(m["grad_norm"])))
                mgr.wait_until_finished()
                raise FloatingPointError(
                    f"non-finite loss/gradient at step {bad}; stopped, the last good checkpoint "
                    f"(step {mgr.latest_step()}) in {run_dir / 'checkpoints'} is kept")
            state, n_log, step = new_state, n_log + (nxt - step), nxt
            acc_m.append(m)
            bar.update(len(m["loss"]))
            bar.set_postfix(loss=f"{m['loss'][-1]:.3f}", acc=f"{m['accuracy'][-1]:.3f}",
                            **({"state_mse": f"{m['state_mse'][-1]:.3f}"}
                               if "state_mse" in m else {}))
            if step % train_cfg.log_every == 0 or step == end:
                dt = time.perf_counter() - t_log
                rec = {"step": step, "lr": float(lr_fn(step - 1)), "time": time.time(),
                       "tokens_per_s": n_log * tokens_per_step / dt, "steps_per_s": n_log / dt}
                for k in acc_m[0]:
                    rec[k] = float(np.mean(np.concatenate([a[k] for a in acc_m])))
                if main:  # process 0 of a multi-process job
                    with disk_errors(metrics_path), metrics_path.open("a") as f:
                        f.write(json.dumps(rec) + "\n")
                acc_m, t_log, n_log = [], time.perf_counter(), 0
            if step % train_cfg.ckpt_every == 0 or step == end:
                with disk_errors(run_dir / "checkpoints" / str(step)):
                    mgr.save(step, args=ocp.args.StandardSave(state))
                    record_checksums(mgr, run_dir, step)
    except KeyboardInterrupt:
        # one process saves alone; a job's processes are not interrupted at the same step, so
        # a multi-process run resumes from its last periodic checkpoint
        if single and int(state.step) != mgr.latest_step():
            mgr.save(int(state.step), args=ocp.args.StandardSave(state))
            record_checksums(mgr, run_dir, int(state.step))
        raise
    finally:
        bar.close()
        mgr.wait_until_finished()
        mgr.close()
    return state.params
