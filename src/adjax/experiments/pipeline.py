"""The stages of an experiment run, in order (STAGES): collect the learning histories and expert
data (one dataset each, shared by every training seed) -> train AD and ED for each training seed
k (runs/ad/seed{k}, runs/ed/seed{k}) -> evaluate each split: every seed's AD and ED
(eval/{split}/seed{k}.json) and the untrained baselines once (eval/{split}/baselines.json), all
with the same evaluation keys -> the source from scratch on the env-step axis
(eval/{split}/source_{n}actors.json) -> the block-vs-queue refresh check of each training seed's
AD (eval/refresh/seed{k}/) -> RL²,
when the experiment has it: meta-trained for each training seed (runs/rl2/seed{k}) and evaluated
on every split with the same tasks and evaluation seeds (eval/{split}/rl2_seed{k}.json).

Each stage is a function of a `Run` returning its part of what `runner.run_experiment` turns
into results.json; a stage whose output is complete with the same settings is reused (its done
check beside it). A new analysis of the same runs is one more function in STAGES.
"""

import dataclasses
from pathlib import Path

import numpy as np

from adjax import data, envs, rl2
from adjax.atomic import read_json
from adjax.checkpoints import RunConfigError, latest_step, load_run
from adjax.evaluate import EvalSpec, evaluate_run, evaluate_source_curve
from adjax.experiments.common import (
    ExperimentConfig,
    SourceCurve,
    SplitEval,
    Stages,
    stage_file,
)
from adjax.rl2.evaluate import evaluate as evaluate_rl2
from adjax.stats import mean_ci, tenth
from adjax.train import fit

TRAINED = {"agent": "AD", "ed": "ED"}  # eval JSON curve name -> report method
BASELINES = {"source": "source", "random": "random"}
RL2 = {"rl2": "RL2"}  # RL²'s evaluation JSON curve -> report method (the paper's name, RL2)
PER_TRAIN_SEED = {*TRAINED, *RL2}  # curves that also keep each training seed's mean


def _num_tasks(env: str, se: SplitEval) -> int | None:
    """The tasks a split evaluates: at most se.num_tasks of a grid's fixed set (the validation
    set may be smaller than the cap a preset gives the other splits); None: all of them."""
    if se.num_tasks is None or not envs.has_task_sets(env):
        return se.num_tasks
    return min(se.num_tasks, len(envs.tasks_for(env, se.split, None)[0]))


def _evaluated(path: Path, se: SplitEval, curves, refresh_every, temperature,
               runs: dict | None = None) -> bool:
    """An evaluation JSON exists, was made with these settings and holds these curves, of the
    runs' current checkpoints (runs: {"run": dir, "ed_run": dir}; files written before the step
    was recorded are taken as they are)."""
    if (d := stage_file(path)) is None:
        return False
    want = {"num_episodes": se.num_episodes, "num_seeds": se.num_seeds,
            "refresh_every": refresh_every, "temperature": temperature}
    for name, run_dir in (runs or {}).items():
        if f"{name}_step" in d and run_dir is not None:
            want[f"{name}_step"] = latest_step(run_dir)
    split = d.get("splits", {}).get(se.split)
    return (split is not None and all(d.get(k) == v for k, v in want.items())
            and (se.num_tasks is None or split["num_tasks"] == se.num_tasks)
            and set(curves) <= set(split["curves"]))


def refresh_check(block: dict, queue: dict, split: str) -> dict:
    """The same AD, tasks and keys evaluated with the block refresh and with the paper's queue
    (refresh every step) -> per-pair mean returns of each (all episodes, last 10%) with a 95%
    t-interval over the task x seed pairs (`block_ci95`, `queue_ci95`), and their paired
    difference (queue - block) with its interval (`ci95`)."""
    out = {"split": split}
    runs = {name: np.asarray(e["splits"][split]["curves"]["agent"]["returns"], np.float64)
            for name, e in (("block", block), ("queue", queue))}  # [N, S, E]
    n = runs["block"].shape[-1]
    for part, sl in (("all", slice(0, n)), ("last_10pct", slice(n - tenth(n), n))):
        pair = {k: r[..., sl].mean(-1).reshape(-1) for k, r in runs.items()}
        diff, half = mean_ci(pair["queue"] - pair["block"])
        out[part] = {**{k: round(float(v.mean()), 3) for k, v in pair.items()},
                     **{f"{k}_ci95": round(float(mean_ci(v)[1]), 3) for k, v in pair.items()},
                     "queue_minus_block": round(float(diff), 3),
                     "ci95": round(float(half), 3), "pairs": int(pair["block"].size)}
    out["episodes"] = n
    out["refresh_every_block"] = block["refresh_every"]
    return out


REFRESH_WINDOWS = ("all", "last_10pct")


def refresh_summary(checks: dict[int, dict]) -> dict:
    """Training seed -> its `refresh_check` (same split and episodes) -> the experiment's check:
    {"split", "episodes", "refresh_every_block", "train_seeds", "per_train_seed" {str(k): check},
    "over", and per window ("all", "last_10pct") block, queue, queue_minus_block with 95%
    intervals and the pairs counted}. One seed: its own windows, intervals over its task x seed
    pairs (`over` "task × seed pairs"); several: the mean over training seeds of each seed's pair
    mean (and of its paired difference), t-intervals over the training seeds (`over` "training
    seeds"), as the report's other AD numbers."""
    if not checks:
        raise ValueError("refresh_summary needs at least one training seed's check")
    seeds = sorted(checks)
    first = checks[seeds[0]]
    for k in seeds[1:]:
        for key in ("split", "episodes", "refresh_every_block"):
            if checks[k][key] != first[key]:
                raise ValueError(f"refresh check of training seed {k}: {key} {checks[k][key]!r}, "
                                 f"seed {seeds[0]}'s {first[key]!r}")
    out = {key: first[key] for key in ("split", "episodes", "refresh_every_block")}
    out.update(train_seeds=seeds, per_train_seed={str(k): checks[k] for k in seeds})
    if len(seeds) == 1:
        return {**out, "over": "task × seed pairs",
                **{w: first[w] for w in REFRESH_WINDOWS}}
    out["over"] = "training seeds"
    for w in REFRESH_WINDOWS:
        win = {}
        for key, ci in (("block", "block_ci95"), ("queue", "queue_ci95"),
                        ("queue_minus_block", "ci95")):
            mean, half = mean_ci([checks[k][w][key] for k in seeds])
            win[key], win[ci] = round(float(mean), 3), round(float(half), 3)
        win["pairs"] = int(sum(checks[k][w]["pairs"] for k in seeds))
        out[w] = win
    return out


def refresh_checks(results: dict) -> dict[int, dict]:
    """Training seed -> its refresh check, from results.json's "refresh" (results written before
    every seed had one hold training seed 0's check alone, without "per_train_seed")."""
    r = results.get("refresh")
    if not r:
        return {}
    if "per_train_seed" not in r:
        return {0: r}
    return {int(k): c for k, c in r["per_train_seed"].items()}


def _source_curve_done(path: Path, sc: SourceCurve) -> bool:
    if (d := stage_file(path)) is None:
        return False
    return (all(d.get(k) == getattr(sc, k) for k in ("num_actors", "num_steps", "num_seeds",
                                                      "split"))
            and (sc.num_tasks is None or d.get("num_tasks") == sc.num_tasks))


def _trained(run_dir: Path, num_steps: int) -> bool:
    if not (run_dir / "config.json").exists():
        return False
    try:
        return load_run(run_dir)[2]["step"] >= num_steps
    except RunConfigError:  # no checkpoint yet
        return False


def _curves(per_run: list[dict], split: str, names: dict) -> dict:
    """Eval JSONs (one per training seed, or one for the baselines) -> report curves of a split:
    {method: {"per_seed" [S][E] (evaluation seeds, averaged over training seeds and tasks),
    "per_train_seed" [K][E] (trained methods), "num_tasks"}}."""
    out = {}
    for key, method in names.items():
        runs = [np.asarray(e["splits"][split]["curves"][key]["returns"], np.float64)
                for e in per_run if key in e["splits"][split]["curves"]]  # each [N, S, E]
        if not runs:
            continue
        r = np.stack(runs)  # [K, N, S, E]
        out[method] = {"per_seed": r.mean(axis=(0, 1)).round(4).tolist(),
                       "num_tasks": int(r.shape[1])}
        if key in PER_TRAIN_SEED:
            out[method]["per_train_seed"] = r.mean(axis=(1, 2)).round(4).tolist()
    opt = next((e["splits"][split]["optimal"] for e in per_run
                if e["splits"][split].get("optimal")), None)  # the baselines file has it
    if opt:
        out["optimal"] = float(opt["mean"])
    return out


@dataclasses.dataclass
class Run:
    """What the stages of one experiment share: its config and directories, the stage runner
    (reuse and timings), and what earlier stages made (the trained runs' directories)."""

    cfg: ExperimentConfig
    out: Path
    stages: Stages
    data_dir: Path
    progress: bool

    @property
    def learn_dir(self) -> Path:
        return self.data_dir / "learning"

    @property
    def expert_dir(self) -> Path:
        return self.data_dir / "expert"

    @property
    def methods(self) -> tuple:
        """(name, TrainConfig, dataset directory) of each trained method: AD, and ED if any."""
        ad = ("ad", self.cfg.train_ad, self.learn_dir)
        ed = ("ed", self.cfg.train_ed, self.expert_dir)
        return (ad,) if self.cfg.train_ed is None else (ad, ed)

    @property
    def run_dirs(self) -> dict:
        return {(m, k): self.out / "runs" / m / f"seed{k}" for m, _, _ in self.methods
                for k in self.cfg.seeds}

    @property
    def trained(self) -> dict:
        """Evaluation curve name -> report method, of the methods trained."""
        with_ed = self.cfg.train_ed is not None
        return {k: name for k, name in TRAINED.items() if with_ed or name != "ED"}


def _collect(run: Run) -> dict:
    """The learning histories and, with ED, the expert data (in one pass of the source when
    neither exists)."""
    cfg, learn_dir, expert_dir = run.cfg, run.learn_dir, run.expert_dir
    tasks = None if cfg.num_train_tasks is None else list(range(cfg.num_train_tasks))
    spec = data.CollectSpec(cfg.source, cfg.env, env_kwargs=cfg.env_kwargs, task_indices=tasks,
                            split="train", seeds=cfg.data_seeds,
                            subsample_every=cfg.subsample_every,
                            expert_episodes=cfg.expert_episodes)
    how = dict(chunk_size=cfg.chunk_size, task_batch=cfg.task_batch, progress=run.progress)
    with_ed = cfg.train_ed is not None
    if with_ed and not learn_dir.exists() and not expert_dir.exists():  # one run for both
        run.stages.run("collect learning histories and expert data", lambda: data.collect(
            spec, learn_dir, expert_out_dir=expert_dir, **how))
        return {}
    run.stages.run("collect learning histories", lambda: data.collect(
        spec, learn_dir, **how),
        done=learn_dir.exists())
    if with_ed:
        run.stages.run("collect expert data", lambda: data.collect(
            dataclasses.replace(spec, subsample_every=1), expert_dir, expert=True, **how),
            done=expert_dir.exists())
    return {}


def _train(run: Run) -> dict:
    """Each trained method for each training seed (seed k: the method's seed + k)."""
    for k in run.cfg.seeds:
        for m, tcfg, path in run.methods:
            tcfg, r = dataclasses.replace(tcfg, seed=tcfg.seed + k), run.run_dirs[m, k]
            run.stages.run(f"train {m.upper()} seed {k}", lambda r=r, t=tcfg, p=path: fit(
                t, run.cfg.model, data.load(p, env=run.cfg.env, quiet=True), r,
                progress=run.progress), done=_trained(r, tcfg.num_steps))
    return {}


def _eval_spec(run: Run, se: SplitEval, baselines=(), refresh_every=None) -> EvalSpec:
    """The evaluation of split `se` (refresh_every None: the experiment's)."""
    ev = run.cfg.eval
    return EvalSpec(env=run.cfg.env, env_kwargs=run.cfg.env_kwargs, splits=(se.split,),
                    num_episodes=se.num_episodes, num_seeds=se.num_seeds,
                    num_tasks=se.num_tasks, temperature=ev.temperature,
                    refresh_every=ev.refresh_every if refresh_every is None else refresh_every,
                    baselines=tuple(baselines))


def _eval_opts(run: Run) -> dict:
    """How to run an evaluation (not what it computes)."""
    return dict(batch_size=run.cfg.eval.batch_size, figure=False, progress=run.progress)


def _evaluate(run: Run) -> dict:
    """Every split: each seed's trained methods and the baselines once, with the same keys ->
    {"curves": {split: ...}, "episode_len"}."""
    cfg, ev, trained = run.cfg, run.cfg.eval, run.trained
    curves = {}
    for se in ev.splits:
        se = dataclasses.replace(se, num_tasks=_num_tasks(cfg.env, se))
        files = []
        for k in cfg.seeds:
            path = run.out / "eval" / se.split / f"seed{k}.json"
            run.stages.run(f"evaluate {se.split} tasks, {' and '.join(trained.values())} seed {k}",
                           lambda p=path, k=k, se=se: evaluate_run(
                               run.run_dirs["ad", k], p, _eval_spec(run, se),
                               ed_run_dir=run.run_dirs.get(("ed", k)), **_eval_opts(run)),
                           done=_evaluated(path, se, trained, ev.refresh_every, ev.temperature,
                                           {"run": run.run_dirs["ad", k],
                                            "ed_run": run.run_dirs.get(("ed", k))}))
            files.append(path)
        if se.baselines:
            path = run.out / "eval" / se.split / "baselines.json"
            wanted = [b for b in se.baselines if b in BASELINES]
            run.stages.run(f"evaluate {se.split} tasks, baselines",
                           lambda p=path, se=se: evaluate_run(
                               None, p, _eval_spec(run, se, se.baselines),
                               source_cfg=cfg.source, **_eval_opts(run)),
                           done=_evaluated(path, se, wanted, ev.refresh_every, ev.temperature))
            files.append(path)
        per_run = [read_json(f) for f in files]
        curves[se.split] = _curves(per_run, se.split, {**TRAINED, **BASELINES})
    return {"curves": curves, "episode_len": per_run[0]["episode_len"]}


def _source_curves(run: Run) -> dict:
    """The source learning from scratch on the env-step axis (cfg.source_curves), raw."""
    cfg, found = run.cfg, {}
    for sc in cfg.source_curves:
        path = run.out / "eval" / sc.split / f"source_{sc.num_actors}actors.json"
        run.stages.run(f"source from scratch on {sc.split} tasks, {sc.name}",
                       lambda p=path, sc=sc: evaluate_source_curve(
                           cfg.source, cfg.env, p, num_actors=sc.num_actors,
                           num_steps=sc.num_steps, split=sc.split, num_seeds=sc.num_seeds,
                           num_tasks=sc.num_tasks, batch_size=sc.batch_size,
                           progress=run.progress, env_kwargs=cfg.env_kwargs,
                           task_batch=cfg.task_batch),
                       done=_source_curve_done(path, sc))
        found[sc.name] = read_json(path)
    return {"source_curves": found} if found else {}


def _refresh(run: Run) -> dict:
    """The paper's queue against the block refresh (cfg.eval.refresh_check), each training seed's
    AD on the same tasks and keys (eval/refresh/seed{k}/{block,queue}.json) -> {"refresh":
    `refresh_summary` of the seeds' checks}."""
    ev = run.cfg.eval
    if ev.refresh_check is None:
        return {}
    se, checks = ev.refresh_check, {}
    for k in run.cfg.seeds:
        found = {}
        for mode, b in (("block", ev.refresh_every), ("queue", 1)):
            path = run.out / "eval" / "refresh" / f"seed{k}" / f"{mode}.json"
            run.stages.run(f"evaluate {se.split} tasks, AD seed {k}, {mode} refresh",
                           lambda p=path, b=b, k=k: evaluate_run(
                               run.run_dirs["ad", k], p, _eval_spec(run, se, refresh_every=b),
                               **_eval_opts(run)),
                           done=_evaluated(path, se, ("agent",), b, ev.temperature,
                                           {"run": run.run_dirs["ad", k]}))
            found[mode] = read_json(path)
        checks[k] = refresh_check(found["block"], found["queue"], se.split)
    return {"refresh": refresh_summary(checks)}


def _rl2_evaluated(path: Path, se: SplitEval, run_dir: Path) -> bool:
    """An RL² evaluation JSON of split `se`, with these settings, of the run's latest update."""
    if (d := stage_file(path)) is None:
        return False
    split = d.get("splits", {}).get(se.split)
    return (split is not None and "rl2" in split["curves"]
            and d.get("num_episodes") == se.num_episodes and d.get("num_seeds") == se.num_seeds
            and (se.num_tasks is None or split["num_tasks"] == se.num_tasks)
            and d.get("rl2", {}).get("update") == latest_step(run_dir))


def _rl2(run: Run) -> dict:
    """RL² (cfg.rl2) for each training seed k (its seed + k) on the training tasks, then every
    split evaluated as AD's are (the same tasks, evaluation seeds and keys; temperature 1)
    -> {"rl2_curves": {split: {"RL2": curve}}}."""
    cfg = run.cfg
    if cfg.rl2 is None:
        return {}
    dirs = {k: run.out / "runs" / "rl2" / f"seed{k}" for k in cfg.seeds}
    for k, r in dirs.items():
        rc = dataclasses.replace(cfg.rl2, seed=cfg.rl2.seed + k)
        run.stages.run(f"train RL2 seed {k}", lambda r=r, rc=rc: rl2.fit(
            rc, r, progress=run.progress), done=latest_step(r) == rc.num_updates)
    curves = {}
    for se in cfg.eval.splits:
        se = dataclasses.replace(se, num_tasks=_num_tasks(cfg.env, se))
        files = []
        for k, r in dirs.items():
            path = run.out / "eval" / se.split / f"rl2_seed{k}.json"
            run.stages.run(f"evaluate {se.split} tasks, RL2 seed {k}",
                           lambda p=path, r=r, se=se: evaluate_rl2(
                               r, p, splits=(se.split,), num_episodes=se.num_episodes,
                               num_seeds=se.num_seeds, num_tasks=se.num_tasks, baselines=(),
                               figure=False, progress=run.progress),
                           done=_rl2_evaluated(path, se, r))
            files.append(path)
        curves[se.split] = _curves([read_json(f) for f in files], se.split, RL2)
    return {"rl2_curves": curves, "rl2": {
        "config": cfg.rl2.to_dict(),
        "env_steps": cfg.rl2.num_updates * cfg.rl2.steps_per_update()}}


# The stages in order; each takes the Run and returns its part of the results. The first two
# make the trained runs (runner.train_only stops after them).
TRAINING_STAGES = (_collect, _train)
STAGES = (*TRAINING_STAGES, _evaluate, _source_curves, _refresh, _rl2)
