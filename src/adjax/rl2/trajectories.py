"""RL² trajectory pictures: a trained RL² network's paths over one evaluation trial on a held-out
grid task, episode by episode (AD's are `adjax.report.trajectories`).

    python -m adjax.rl2.trajectories RUN_DIR [--episodes N] [--task 0] [--seed 0] [--out DIR]

RUN_DIR is an RL² run (`python -m adjax.rl2 --out RUN_DIR`; its latest checkpoint). The network
plays one trial of `--episodes` episodes (default: its training trial's) on task `--task` of the
held-out ("test") split with the key `adjax.rl2.evaluate` gives that task and evaluation seed,
through the same loop (`RL2Agent`), so with the default trial length its returns are that
evaluation's for the pair. Writes into RUN_DIR/figures (or --out) `rl2_paths.png` (the episodes
1, 2, 5, 10, 50, 200 that the trial has, and its last), `rl2_episodes.gif` and `rl2_paths.json`
(settings, the run's fingerprint, every episode's return, the drawn episodes' cells). LSTM runs on
grid environments only.
"""

from __future__ import annotations

from pathlib import Path

from adjax.atomic import read_json, write_json
from adjax.checkpoints import RunConfigError
from adjax.report import trajectories as tj
from adjax.report.pictures import (
    PictureError,
    fingerprint,
    picture_parser,
    print_files,
    unchanged,
)
from adjax.rl2.evaluate import RL2Agent
from adjax.rl2.train import load_run

NAME = "rl2"


def record_rl2_paths(cfg, env, params, task_id: int = 0, seed: int = 0,
                     num_episodes: int | None = None) -> tj.Paths:
    """One evaluation trial of an RL² network (`load_run`'s cfg, env, params) on held-out task
    `task_id`, with the RL² curve's evaluation key -> `adjax.report.trajectories.Paths`."""
    if cfg.network != "lstm":
        raise PictureError(f"trajectory pictures are drawn for RL²'s LSTM network; this run's "
                           f"is {cfg.network!r}")
    E = num_episodes or cfg.episodes_per_trial
    agent = RL2Agent.create(cfg.hidden, env, params, E)
    return tj.record_paths(agent, cfg.env, task_id, seed, E,
                           refresh_every=agent.spec.context_len, curve="rl2", env=env)


def write_rl2_trajectories(run_dir, out_dir=None, num_episodes: int | None = None,
                           task_id: int = 0, seed: int = 0, force: bool = False
                           ) -> dict[str, Path]:
    """The paths figure, GIF and JSON of an RL² run (module doc) into out_dir (default
    run_dir/figures); reused when they exist with the same settings and checkpoint."""
    run_dir = Path(run_dir)
    try:
        cfg, env, params, config = load_run(run_dir)
    except (RunConfigError, FileNotFoundError) as e:
        raise PictureError(f"{run_dir}: not a trained RL² run ({e})") from None
    files = tj.outputs(out_dir or run_dir / "figures", NAME)
    stamp = {"version": tj.VERSION, "run": fingerprint(run_dir), "split": tj.SPLIT,
             "task": task_id, "seed": seed, "episodes": num_episodes or cfg.episodes_per_trial}
    if not force and unchanged(files, stamp):
        return files
    paths = record_rl2_paths(cfg, env, params, task_id, seed, num_episodes)
    eps = tj.shown_episodes(paths.num_episodes)
    title = (f"RL² ({paths.env}, {config['update']} updates), weights frozen: one trial of "
             f"{paths.num_episodes} episodes\non held-out task {task_id} {paths.task.tolist()}, "
             f"evaluation seed {seed}")
    tj.plot_paths(paths, files["png"], title=title)
    tj.write_gif(paths, files["gif"], episodes=tj._gif_episodes(eps))
    write_json(files["json"], {**stamp, "env": paths.env, "update": config["update"],
                               **tj.paths_record(paths)}, indent=None, checksum=True)
    return files


def main(argv=None) -> dict[str, Path]:
    ap = picture_parser(
        "python -m adjax.rl2.trajectories",
        "Draw a trained RL² network's paths over one evaluation trial on a held-out task of a "
        "grid environment.",
        "an RL² run directory (config.json, checkpoints/)", "index into the held-out tasks")
    ap.add_argument("--episodes", type=int, default=None,
                    help="episodes in the trial (default: the training trial's)")
    args = ap.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        ap.error("--episodes must be at least 1")
    try:
        files = write_rl2_trajectories(args.run_dir, args.out, args.episodes, args.task,
                                       args.seed, force=args.force)
    except PictureError as e:
        raise SystemExit(f"{ap.prog}: error: {e}") from None
    returns = read_json(files["json"])["returns"]
    print("returns per episode: " + ", ".join(f"{r:g}" for r in returns))
    print_files(files)
    return files


if __name__ == "__main__":
    from adjax.devices import use_cpu_cores

    use_cpu_cores()
    main()
