"""CLI: `python -m adjax.data collect ...` and `python -m adjax.data info DIR`."""

import argparse
import dataclasses
import json
import sys

import numpy as np

from adjax import distributed, sources
from adjax.atomic import one_line_errors
from adjax.data.collect import CollectSpec, collect
from adjax.data.dataset import load


def _source_config(name: str, overrides: list[str]):
    """Build a source Config from KEY=VALUE overrides (values parsed as JSON, else strings)."""
    cls = sources.get(name).Config
    kw = {}
    for item in overrides:
        key, _, val = item.partition("=")
        if key not in {f.name for f in dataclasses.fields(cls)}:
            raise SystemExit(f"{name} has no config field {key!r}; known: "
                             f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        kw[key] = tuple(v) if isinstance(v, list) else v
        _check_field(name, key, kw[key], {f.name: f.default for f in dataclasses.fields(cls)}[key])
    return cls(**kw)


# Source config fields that count something (at least 1).
COUNTS = ("num_", "_episodes", "_steps", "unroll", "reward_levels")


def _check_field(source: str, key: str, value, default) -> None:
    """A --set value of the default's type; counts >= 1; numbers finite; else an error naming
    the field and the value."""
    bad = None
    if isinstance(default, bool):
        bad = None if isinstance(value, bool) else "true or false"
    elif isinstance(default, int):
        bad = None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
        if bad is None and any(c in key for c in COUNTS) and value < 1:
            bad = "an integer >= 1"
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        bad = None if ok and np.isfinite(value) else "a finite number"
    if bad:
        raise ValueError(f"{source} config field {key}={value!r}: must be {bad}")


def info(path: str) -> str:
    ds = load(path)
    R = ds.episode_returns()
    m = ds.manifest
    lines = [
        f"dataset      {ds.path}",
        f"env          {ds.env_name} {m['env_config'].get('kwargs') or ''}",
        f"source       {m['source']} {m['source_config']}",
        f"kind         {ds.kind}",
        f"histories    {ds.num_histories} x {ds.history_len} steps "
        f"({ds.num_episodes} episodes of {ds.episode_len}, subsample_every "
        f"{m['subsample_every']}), {m['num_tasks']} tasks, seeds {m['seeds']}",
        *([f"obs          stored as renderer state {m['obs_storage']['fields']} "
             f"(obs_state.npy), rendered to uint8{m['obs_storage']['frame_shape']} frames "
             f"when read"] if ds.stores_state else []),
        f"return       first episode {R[:, 0].mean():.3f} +- {R[:, 0].std():.3f}, "
        f"last {R[:, -1].mean():.3f} +- {R[:, -1].std():.3f}",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m adjax.data", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="run a source over tasks and write a dataset directory")
    c.add_argument("--source", default="qlearning", choices=sorted(sources.SOURCES))
    c.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="source config overrides, e.g. num_episodes=400 lr=0.003")
    c.add_argument("--env", default="darkroom")
    c.add_argument("--out", required=True)
    c.add_argument("--split", default="train")
    c.add_argument("--tasks", type=int, nargs="*", default=None,
                   help="task indices into the split (default: all); bandit: how many to sample")
    c.add_argument("--num-tasks", type=int, default=None, help="shorthand for --tasks 0..N-1")
    c.add_argument("--seeds", type=int, nargs="*", default=[0])
    c.add_argument("--chunk-size", type=int, default=16)
    c.add_argument("--subsample-every", type=int, default=1)
    c.add_argument("--keep-streams", type=int, nargs="*", default=None)
    c.add_argument("--expert", action="store_true")
    c.add_argument("--expert-episodes", type=int, default=100)
    c.add_argument("--overwrite", action="store_true")
    i = sub.add_parser("info", help="summarise a dataset directory")
    i.add_argument("dir")
    args = ap.parse_args(argv)
    if args.cmd == "info":
        print(info(args.dir))
        return
    if args.num_tasks is not None and args.num_tasks < 1:
        raise ValueError(f"--num-tasks must be >= 1, got {args.num_tasks}")
    idx = args.tasks if args.num_tasks is None else list(np.arange(args.num_tasks))
    spec = CollectSpec(_source_config(args.source, args.set), args.env, task_indices=idx,
                       split=args.split, seeds=args.seeds,
                       subsample_every=args.subsample_every, keep_streams=args.keep_streams,
                       expert_episodes=args.expert_episodes)
    out = collect(spec, args.out, expert=args.expert, chunk_size=args.chunk_size,
                  overwrite=args.overwrite)
    if distributed.is_main():  # one summary per job, not one per process
        print(info(out))


if __name__ == "__main__":
    with one_line_errors("python -m adjax.data"):
        main(sys.argv[1:])
