"""CLI: `python -m adjax.rl2 --env darkroom --preset quick --out DIR` meta-trains RL² (or resumes
from DIR's latest checkpoint), then evaluates it on the validation and held-out tasks (and a
grid's training tasks) into DIR/eval/results.json (+ .png); with --publish DEST, also into
DEST/seed{k}/ for the report (`adjax.rl2.publish`)."""

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from adjax.atomic import one_line_errors
from adjax.experiments.sweep import checked
from adjax.experiments.sweep import parse as parse_assignment
from adjax.rl2.config import Config, preset
from adjax.rl2.evaluate import evaluate
from adjax.rl2.publish import publish
from adjax.rl2.train import fit


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m adjax.rl2", description=__doc__)
    ap.add_argument("--env", default="darkroom")
    ap.add_argument("--preset", default="quick", choices=("tiny", "quick", "paper"))
    ap.add_argument("--out", type=Path, required=True, help="run directory")
    ap.add_argument("--updates", type=int, default=None, help="meta-training updates")
    ap.add_argument("--seed", type=int, default=None, help="training seed")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="other rl2.Config fields, values as JSON (else strings), as the "
                         "experiments' --set: e.g. lr=0.001 hidden=[128,128] network=transformer")
    ap.add_argument("--eval-episodes", type=int, default=None,
                    help="episodes per evaluation trial (default: the training trial's)")
    ap.add_argument("--eval-seeds", type=int, default=20)
    ap.add_argument("--splits", nargs="*", default=None,
                    help="task sets to evaluate (default: val, test and, on a grid, train)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop training (checkpointed, resumable) at the first log boundary past "
                         "this many minutes of this invocation's training")
    ap.add_argument("--no-train", action="store_true", help="evaluate the latest checkpoint only")
    ap.add_argument("--checkpoint", type=int, default=None, metavar="UPDATE",
                    help="with --no-train: evaluate this update's checkpoint (e.g. to choose one "
                         "on validation tasks) into eval/results-UPDATE.json")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--publish", type=Path, default=None, metavar="DEST",
                    help="after the evaluation, copy it (per-pair returns averaged over tasks), "
                         "the config and the training records into DEST/seed{k}/ for the "
                         "report, e.g. experiments/rl2/darkroom_hard")
    return ap.parse_args(argv)


def config_from(args):
    """The preset with --set, --updates and --seed applied. Values parse as in the experiments'
    sweeps (`sweep.parse`: JSON, lists as tuples); they go to `preset` as overrides, before the
    preset's derived choices (network="transformer" brings its transformer sizes)."""
    overrides = {}
    fields = {f.name for f in dataclasses.fields(Config)}
    for item in args.set:
        try:
            name, value = parse_assignment(item)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        if name not in fields:
            raise SystemExit(f"--set: unknown field {name!r}; known: {', '.join(sorted(fields))}")
        try:
            overrides[name] = checked(name, getattr(Config, name), value)
        except ValueError as e:
            raise SystemExit(str(e)) from None
    if args.updates is not None:
        overrides["num_updates"] = args.updates
    if args.seed is not None:
        overrides["seed"] = args.seed
    return preset(args.preset, args.env, **overrides)


def main(argv=None) -> None:
    args = parse(argv)
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise SystemExit(f"--max-minutes must be > 0, got {args.max_minutes}")
    if args.checkpoint is not None and not args.no_train:
        raise SystemExit("--checkpoint evaluates a kept checkpoint: add --no-train")
    if args.publish is not None and (args.no_eval or args.checkpoint is not None):
        raise SystemExit("--publish publishes the evaluation of the latest checkpoint: drop "
                         "--no-eval and --checkpoint")
    with one_line_errors("python -m adjax.rl2", hard_exit=argv is None):
        if not args.no_train:
            cfg = config_from(args)
            print(f"rl2: {args.env}, preset {args.preset}: {json.dumps(cfg.to_dict())}")
            fit(cfg, args.out, max_seconds=None if args.max_minutes is None
                else 60 * args.max_minutes)
        if not args.no_eval:
            name = "results.json" if args.checkpoint is None else f"results-{args.checkpoint}.json"
            out = args.out / "eval" / name
            res = evaluate(args.out, out, splits=args.splits, num_episodes=args.eval_episodes,
                           num_seeds=args.eval_seeds, update=args.checkpoint)
            for split, sec in res["splits"].items():
                m = sec["curves"]["rl2"]["summary"]["mean"]
                print(f"{split}: rl2 return episode 1 {m[0]:.2f}, episode {len(m)} {m[-1]:.2f}")
            print(f"wrote {out}")
            if args.publish is not None:
                command = "python -m adjax.rl2 " + shlex.join(
                    sys.argv[1:] if argv is None else argv)
                print(f"published {publish(args.out, out, args.publish, command)}")


if __name__ == "__main__":
    main()
