"""Prompting with demonstrations (Laskin et al. 2023, Fig. 5): AD and ED from fixed-quality prompts.

    python -m adjax.experiments.prompting --run runs/darkroom --out runs/prompting \
        [--levels 0.05 0.25 0.5 0.75 0.95] [--episodes 50] [--seeds S] [--prompt-episodes P] \
        [--publish experiments/prompting]

`--run` is an experiment directory made by `python -m adjax.experiments.<name>` (experiment.json,
runs/ad/seed{k}, runs/ed/seed{k}); nothing is trained here. Every training seed's AD and ED found
there is evaluated on the held-out ("test") tasks, each task x evaluation seed with a context
pre-filled by demonstrations of one quality; the paper's claim: AD improves from every level to
near the optimum, sooner from better demonstrations, while ED stays at the demonstrations' level.

Demonstrations and the prompted rollouts (their rule, keys and prompt length) are
`adjax.evaluate.prompted`'s; the rule is also written into results.json "prompt".

Stages, each reused when its file holds the same settings: demonstrations.json, then
eval/{ad,ed}/seed{k}.json (returns [levels][N][S][E]), then (grid envs) the paths of training
seed 0's AD and ED from the lowest and highest level on held-out task 0, evaluation seed 0
(figures/prompting_paths.png, prompting_paths.json: the evaluation's own prompt and key for that
pair), then results.json, figures/prompting.png and summary.md, copied with the timings and
the paths to --publish when given (`common.publish`: notes there are kept). Toy size:
tests/experiments/test_prompting.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from tqdm.auto import tqdm

from adjax import envs, sources
from adjax.atomic import read_json, save_figure, write_json, write_text
from adjax.checkpoints import RunConfigError, load_run
from adjax.evaluate import Prompt, in_context_trace, load_agent, optimal_returns
from adjax.evaluate.prompted import (
    KEYS,
    RULE,
    TEMPERATURE,
    evaluate_prompted,
    make_demonstrations,
)
from adjax.evaluate.results import DEFAULT_BATCH, pair_keys, split_tasks
from adjax.experiments.common import (
    Stages,
    command,
    machine,
    publish,
    source_name,
    stage_file,
)
from adjax.report import trajectories as tj
from adjax.report.prompting import label, plot, summary_md
from adjax.stats import curve_summary

DEFAULT_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
SPLIT = "test"
# What --publish copies besides the figures (the paths JSON on grid environments).
PUBLISHED = ("results.json", "summary.md", "timings.json", "prompting_paths.json")
METHODS = {"ad": "AD", "ed": "ED"}



@dataclasses.dataclass(frozen=True)
class Args:
    """AD and ED prompted with demonstrations of fixed quality on the held-out tasks (Fig. 5)."""

    run: Path  # experiment directory of `python -m adjax.experiments.<name>` (trained AD and ED)
    out: Path = Path("runs/prompting")  # where the demonstrations, evaluations and results go
    levels: tuple[float, ...] = DEFAULT_LEVELS  # demonstration returns, as fractions of optimal
    episodes: int = 50  # in-context episodes after the prompt
    seeds: int | None = None  # evaluation seeds per task (default: the run's held-out split's)
    prompt_episodes: int | None = None  # P (default: (context_len - refresh) // episode_len)
    publish: Path | None = None  # also copy the small results here (e.g. experiments/prompting)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What prompting needs from an experiment directory (`read_run`)."""

    path: Path
    experiment: dict  # experiment.json
    env: str
    source: object  # the source's Config
    context_len: int
    refresh_every: int | None  # the experiment's evaluation refresh (None: one episode)
    batch_size: int  # the experiment's task x seed pairs per evaluation call
    num_tasks: int | None  # the held-out split's first n tasks (None: all)
    num_seeds: int  # the held-out split's evaluation seeds
    run_dirs: dict  # (method "ad" | "ed", training seed k) -> run directory
    steps: dict  # (method, k) -> checkpoint step

    @property
    def train_seeds(self) -> list[int]:
        return sorted({k for _, k in self.run_dirs})


def source_config(stored: dict):
    """experiment.json "source" ({"name", **fields}) -> the source's Config (lists as tuples)."""
    stored = dict(stored)
    cls = sources.get(stored.pop("name")).Config
    unknown = set(stored) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"experiment.json source: {cls.NAME} has no field(s) {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def read_run(run) -> RunSpec:
    """Check an experiment directory holds what prompting needs (no compute) -> RunSpec.

    Raises FileNotFoundError naming the first missing file, ValueError for an unfinished training
    run or an env without a closed-form optimal return."""
    run = Path(run)
    path = run / "experiment.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: --run must be an experiment directory made "
                                "by `python -m adjax.experiments.<name>` (experiment.json, "
                                "runs/ad/seed{k}/, runs/ed/seed{k}/)")
    exp = json.loads(path.read_text())
    env_name = exp["env"]
    if optimal_returns(env_name, split_tasks(env_name, SPLIT, 1)) is None:
        raise ValueError(f"{path}: env {env_name!r} has no closed-form optimal return, so "
                         "demonstrations cannot be chosen as fractions of it")
    # The experiment's training seeds as its last invocation declared them (experiment.json:
    # a shard of seeds first_seed .. first_seed + train_seeds - 1); a further seed's directory,
    # still training for a later invocation, is not one of them.
    first = int(exp.get("first_seed", 0))
    run_dirs, steps = {}, {}
    for k in range(first, first + int(exp.get("train_seeds", 1))):
        for m in METHODS:
            d = run / "runs" / m / f"seed{k}"
            if not (d / "config.json").exists():
                raise FileNotFoundError(f"{d / 'config.json'} is missing: training seed {k} of "
                                        f"{m.upper()} was not trained in {run}")
            try:
                step = load_run(d)[2]["step"]
            except RunConfigError as e:
                raise FileNotFoundError(f"{d / 'checkpoints'}: no checkpoint ({e})") from e
            want = exp[f"train_{m}"]["num_steps"]
            if step < want:
                raise ValueError(f"{d}: trained {step} of {want} steps; finish the experiment "
                                 "first (rerun its command)")
            run_dirs[m, k], steps[m, k] = d, int(step)
    head = next((s for s in exp["eval"]["splits"] if s["split"] == SPLIT), {})
    return RunSpec(path=run, experiment=exp, env=env_name, source=source_config(exp["source"]),
                   context_len=int(exp["model"]["context_len"]),
                   refresh_every=exp["eval"].get("refresh_every"),
                   batch_size=int(exp["eval"].get("batch_size", DEFAULT_BATCH)),
                   num_tasks=head.get("num_tasks"), num_seeds=int(head.get("num_seeds", 20)),
                   run_dirs=run_dirs, steps=steps)


def default_prompt_episodes(context_len: int, episode_len: int,
                            refresh_every: int | None) -> int:
    """(c - b) // L: whole episodes that fit in the c - b steps the loop keeps of a prompt."""
    b = episode_len if refresh_every is None else int(refresh_every)
    return (context_len - b) // episode_len


# ---------------------------------------------------------------------------------------------
# Paths: what one prompted agent does on one held-out task (grid envs)


def record_prompted(agent, demos: dict, env, params, tasks, level_index: int, num_seeds: int,
                    num_episodes: int, refresh_every: int | None, env_name: str,
                    task_id: int = 0, seed: int = 0):
    """-> (the prompt's episodes, the agent's num_episodes after it) as
    `adjax.report.trajectories.Paths`, on held-out task `task_id` with evaluation seed `seed`:
    that pair's prompt of level `level_index` and its rollout key, so the agent's returns are
    the evaluation's for the pair (`evaluate_prompted`)."""
    key = pair_keys(jax.random.fold_in(jax.random.key(0), KEYS["act"]), int(tasks.shape[0]),
                    num_seeds)[task_id, seed]
    row = lambda name: np.asarray(demos[name][level_index][task_id][seed])  # noqa: E731
    prompt = Prompt(jnp.asarray(row("obs"), jnp.int32), jnp.asarray(row("actions"), jnp.int32),
                    jnp.asarray(row("rewards"), jnp.float32))
    task = np.asarray(tasks[task_id])
    trace = in_context_trace(key, agent, env, env.with_task(params, task), num_episodes,
                             refresh_every=refresh_every, temperature=TEMPERATURE,
                             prompt=prompt)
    demo = tj.paths_from_steps(prompt.obs, prompt.actions, prompt.rewards, env, task, env_name,
                               task_id, seed)
    return demo, tj.paths_from_trace(trace, env, task, num_episodes, env_name, task_id, seed)


def drawn_after(num_episodes: int) -> list[int]:
    """The episodes after the prompt that are drawn: 1, 2, 5, 10, 50 (those run, and the last;
    at most five)."""
    return tj.shown_episodes(num_episodes)[:5]


def paths_rows(recorded: dict) -> list:
    """{(method name, level): (demo Paths, agent Paths)} -> `tj.panels_figure` rows: per level
    and method, the prompt's last episode, then the agent's `drawn_after` episodes."""
    rows = []
    for (name, lv), (demo, paths) in recorded.items():
        panels = [(demo, demo.num_episodes, f"prompt's last episode: {demo.returns[-1]:g}")]
        panels += [(paths, e, f"episode {e} after: {paths.returns[e - 1]:g}")
                   for e in drawn_after(paths.num_episodes)]
        rows.append((f"{name}, {lv:.0%} demonstrations", panels))
    return rows


def write_paths(spec: RunSpec, demos: dict, env, params, tasks, levels, num_seeds: int,
                num_episodes: int, refresh_every: int, out: Path, settings: dict) -> None:
    """figures/prompting_paths.png and prompting_paths.json: training seed 0's AD and ED on
    held-out task 0, evaluation seed 0, from the lowest and the highest demonstration level."""
    drawn = sorted({min(levels), max(levels)})
    recorded = {}
    for m in METHODS:
        run_dir = spec.run_dirs.get((m, 0))
        if run_dir is None:
            continue
        agent = load_agent(run_dir)
        for lv in drawn:
            recorded[METHODS[m], lv] = record_prompted(
                agent, demos, env, params, tasks, levels.index(lv), num_seeds, num_episodes,
                refresh_every, spec.env)
    task = np.asarray(tasks[0]).tolist()
    fig = tj.panels_figure(paths_rows(recorded), (
        f"{spec.experiment['name']}: training seed 0 prompted on held-out task 0 {task}, "
        f"evaluation seed 0 (weights frozen)"))
    save_figure(fig, out / "figures" / "prompting_paths.png", dpi=90)
    write_json(out / "prompting_paths.json", {
        "settings": settings, "task": task, "levels": drawn,
        "rows": [{"method": name, "level": lv, "prompt_returns": demo.returns.tolist(),
                  "returns": paths.returns.round(4).tolist(),
                  "shown": {str(e): paths.positions[e - 1].tolist()
                            for e in drawn_after(paths.num_episodes)}}
                 for (name, lv), (demo, paths) in recorded.items()]}, indent=None,
        checksum=True)


# ---------------------------------------------------------------------------------------------
# Results (the figure and summary: adjax.report.prompting)


def curves_of(evals: dict, levels, num_tasks: int) -> dict:
    """{(method, k): returns [levels, N, S, E]} -> {level label: {"AD" | "ED": {"per_train_seed"
    [K][E] (mean over tasks and seeds), "per_seed" [S][E] (mean over training seeds and
    tasks), "num_tasks"}}}."""
    out = {}
    for i, level in enumerate(levels):
        entry = {}
        for m, name in METHODS.items():
            r = np.stack([evals[mk][i] for mk in sorted(evals) if mk[0] == m]).astype(np.float64)
            entry[name] = {"per_train_seed": r.mean(axis=(1, 2)).round(4).tolist(),
                           "per_seed": r.mean(axis=(0, 1)).round(4).tolist(),
                           "num_tasks": num_tasks}
        out[label(level)] = entry
    return out


# ---------------------------------------------------------------------------------------------
# The stages


def run_prompting(args: Args, progress: bool = True) -> dict:
    """Demonstrations -> every training seed's AD and ED from each level -> results, figure,
    summary (each stage reused when its file holds the same settings)."""
    levels = tuple(float(x) for x in args.levels)
    if not levels or any(not 0 <= x <= 1 for x in levels) or len(set(levels)) < len(levels):
        raise ValueError(f"--levels must be distinct fractions of the optimum in [0, 1], got "
                         f"{levels}")
    if args.episodes < 1 or (args.seeds is not None and args.seeds < 1):
        raise ValueError("--episodes and --seeds must be >= 1")
    spec = read_run(args.run)  # raises before any compute
    env, params = envs.make(spec.env)
    L = env.episode_len
    b = L if spec.refresh_every is None else int(spec.refresh_every)
    P = args.prompt_episodes or default_prompt_episodes(spec.context_len, L, spec.refresh_every)
    if P < 1:
        raise ValueError(f"no whole episode of {L} steps fits in the {spec.context_len - b} "
                         f"steps the context keeps of a prompt (context {spec.context_len}, "
                         f"refresh {b}); pass --prompt-episodes")
    num_seeds = args.seeds or spec.num_seeds
    tasks = split_tasks(spec.env, SPLIT, spec.num_tasks)
    N = int(tasks.shape[0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    stages = Stages(out)

    settings = {"run": str(spec.path.resolve()), "env": spec.env,
                "source": spec.experiment["source"], "split": SPLIT, "num_tasks": N,
                "num_seeds": num_seeds, "levels": list(levels), "prompt_episodes": P,
                "keys": KEYS}
    demo_path = out / "demonstrations.json"
    stages.run("demonstrations", lambda: write_json(demo_path, {
        "settings": settings, "rule": RULE,
        **make_demonstrations(spec.source, spec.env, env, params, tasks, levels, num_seeds, P,
                              progress)},
        indent=None, checksum=True), done=_same(demo_path, settings))
    demos = read_json(demo_path)

    evals = {}
    eval_settings = {**settings, "num_episodes": args.episodes, "refresh_every": b,
                     "temperature": TEMPERATURE}
    for (m, k), run_dir in spec.run_dirs.items():
        path = out / "eval" / m / f"seed{k}.json"
        s = {**eval_settings, "run_dir": str(run_dir.resolve()), "step": spec.steps[m, k]}

        def evaluate(path=path, s=s, run_dir=run_dir, m=m, k=k):
            bar = tqdm(total=N * num_seeds * len(levels), desc=f"{METHODS[m]} seed {k}",
                       unit="pair", disable=not progress)
            ret = evaluate_prompted(load_agent(run_dir), demos, env, params, tasks, num_seeds,
                                    args.episodes, b, spec.batch_size, on_chunk=bar.update)
            bar.close()
            write_json(path, {"settings": s, "method": METHODS[m], "train_seed": k,
                              "returns": np.round(ret, 6).tolist()}, indent=None,
                       checksum=True)

        stages.run(f"prompted {m.upper()} seed {k}", evaluate, done=_same(path, s))
        evals[m, k] = np.asarray(read_json(path)["returns"], np.float64)

    if spec.env in envs.GRID_ENVS:
        paths_file = out / "prompting_paths.json"
        paths_settings = {**eval_settings, "steps": {f"{m}{k}": v for (m, k), v in
                                                     sorted(spec.steps.items())}}
        stages.run("paths", lambda: write_paths(spec, demos, env, params, tasks, levels,
                                                num_seeds, args.episodes, b, out,
                                                paths_settings),
                   done=_same(paths_file, paths_settings))

    opt = np.asarray(demos["optimal"], np.float64)
    demo_ret = np.asarray(demos["returns"], np.float64)  # [levels, N, S, P]
    results = {
        "experiment": spec.experiment["name"], "env": spec.env, "run": str(spec.path),
        "source_name": source_name(spec.source), "train_seeds": spec.train_seeds,
        "split": SPLIT, "tasks": np.asarray(tasks).tolist(), "num_tasks": N,
        "num_seeds": num_seeds, "num_episodes": args.episodes, "episode_len": L,
        "temperature": TEMPERATURE, "refresh_every": b, "keys": KEYS, "levels": list(levels),
        "prompt": {"rule": RULE, "episodes": P, "steps": P * L, "context_len": spec.context_len,
                   "steps_in_context": min(P * L, spec.context_len - b)},
        "optimal": {"per_task": opt.tolist(), "mean": float(opt.mean())},
        "demonstrations": {label(lv): {
            "level": lv, "target_return_mean": round(float(lv * opt.mean()), 4),
            "level_measured": round(float(demos["level_measured"][i]), 4),
            "return_mean": round(float(demo_ret[i].mean()), 4),
            "return_min": float(demo_ret[i].min()), "return_max": float(demo_ret[i].max()),
            "per_task_return": demo_ret[i].mean(axis=(1, 2)).round(4).tolist()}
            for i, lv in enumerate(levels)},
        "curves": curves_of(evals, levels, N),
        "command": command(), "machine": machine(),
        "wall_time_s": dict(stages.times),
        "invocation_s": round(time.perf_counter() - t_start, 1),
    }
    if spec.env in envs.GRID_ENVS:
        results["paths_figure"] = "figures/prompting_paths.png"
    for lv in levels:
        results["curves"][label(lv)]["optimal"] = float(opt.mean())
    results["summary"] = {label(lv): {m: curve_summary(results["curves"][label(lv)][m])
                                      for m in METHODS.values()} for lv in levels}
    write_json(out / "results.json", results, checksum=True)
    plot(results, out / "figures" / "prompting.png")
    write_text(out / "summary.md", summary_md(results))
    if args.publish is not None:
        publish(out, Path(args.publish), names=tuple(n for n in PUBLISHED
                                                      if (out / n).exists()))
    return results


def _same(path: Path, settings: dict) -> bool:
    """A stage's file exists and was made with these settings."""
    old = stage_file(path)
    return old is not None and old.get("settings") == json.loads(json.dumps(settings))


def main(argv=None) -> dict:
    """`python -m adjax.experiments.prompting --run DIR [--out DIR] [--levels ...] ...`."""
    args = tyro.cli(Args, args=argv, description=Args.__doc__)
    results = run_prompting(args)
    print(summary_md(results))
    return results


if __name__ == "__main__":
    main()
