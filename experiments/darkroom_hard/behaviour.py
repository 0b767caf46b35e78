"""What limits AD on Dark Room Hard: its held-out evaluation read episode by episode.

    PYTHONPATH=src python experiments/darkroom_hard/behaviour.py runs/darkroom_hard3k \
        --json experiments/darkroom_hard/behaviour.json

Reads a run's held-out evaluation (`eval/test/seed<k>.json`: AD and ED per task x evaluation
seed x episode; `eval/test/baselines.json`: the source from scratch and the random policy) and
counts, for each method (an episode's return is 1 if it reached the goal, else 0):
- its success share over the last 10% of episodes by the goal's distance from the centre;
- the share of task x seed pairs that ever found the goal by episodes 20, 200 and the last;
- the re-find rate: P(success in episode e + 1 | success in e), episodes after the 200th;
- P(success | j of the previous `window` episodes succeeded), j = 0 .. window, episodes after
  the 200th (window: the episodes the model's context holds, 8 for the quick preset), and
  with none of them a success, by the goal's distance;
- lost goals: pairs that found the goal and later missed it `window` episodes in a row (the
  goal has left the context), and the share of those that found it again.
"""

import argparse
import json
from pathlib import Path

import numpy as np

CENTRE = (8, 8)
DISTANCE_BINS = ((0, 7, "under 8 steps"), (8, 11, "8-11 steps"), (12, 99, "12 or more steps"))


def read(path: Path, split: str = "test") -> tuple[dict, np.ndarray]:
    """Eval JSON -> ({curve name: success bool[N, S, E]}, goals int[N, 2])."""
    d = json.loads(path.read_text())["splits"][split]
    curves = {k: np.asarray(v["returns"], np.float64) > 0 for k, v in d["curves"].items()}
    return curves, np.asarray(d["tasks"], np.int64)


def behaviour(success: np.ndarray, goals: np.ndarray, window: int, after: int = 200) -> dict:
    """The counts of the module docstring for one method's success bool[N, S, E]."""
    n_tasks, n_seeds, n = success.shape
    last = success[..., n - n // 10:].mean(axis=(1, 2))  # per goal
    dist = np.abs(goals - np.asarray(CENTRE)).sum(axis=1)
    by_distance = {}
    for lo, hi, label in DISTANCE_BINS:
        sel = (dist >= lo) & (dist <= hi)
        if sel.any():
            by_distance[label] = {"goals": int(sel.sum()),
                                  "success": round(float(last[sel].mean()), 3)}
    found = np.maximum.accumulate(success, axis=-1)
    ever = {f"by episode {e}": round(float(found[..., e - 1].mean()), 3)
            for e in sorted({20, 200, n}) if e <= n}
    s = success[..., after:]
    prev, nxt = s[..., :-1], s[..., 1:]
    refind = float(nxt[prev].mean()) if prev.any() else float("nan")
    # successes among the `window` episodes before each episode e > after
    csum = np.concatenate([np.zeros((n_tasks, n_seeds, 1)), np.cumsum(success, -1)], axis=-1)
    e = np.arange(max(after, window), n)
    recent = (csum[..., e] - csum[..., e - window]).astype(np.int64)
    given = {}
    for j in range(window + 1):
        sel = recent == j
        if sel.any():
            given[str(j)] = {"episodes": int(sel.sum()),
                             "success": round(float(success[..., e][sel].mean()), 3)}
    # the same with no success among the previous `window` episodes, by the goal's distance
    # (the goals left with nothing in the context are mostly far ones)
    none_by_distance = {}
    for lo, hi, label in DISTANCE_BINS:
        sel = ((dist >= lo) & (dist <= hi))[:, None, None] & (recent == 0)
        if sel.any():
            none_by_distance[label] = {"episodes": int(sel.sum()), "success": round(
                float(success[..., e][sel].mean()), 3)}
    lost, refound = 0, 0
    flat = success.reshape(-1, n)
    for row in flat:
        first = np.flatnonzero(row)
        if not len(first):
            continue
        rest = row[first[0] + 1:]
        if len(rest) < window:  # found too late to be lost within the evaluation
            continue
        # a run of `window` misses after the first find
        runs = np.convolve(~rest, np.ones(window, np.int64), "valid") == window
        if runs.any():
            lost += 1
            refound += bool(rest[np.flatnonzero(runs)[0] + window:].any())
    return {"last_10pct": round(float(success[..., n - n // 10:].mean()), 3),
            "last_10pct_by_distance": by_distance, "ever_found": ever,
            "refind_rate": round(refind, 3), "success_given_recent": given,
            "success_given_none_recent_by_distance": none_by_distance,
            "pairs_found": int((flat.any(-1)).sum()), "pairs": int(flat.shape[0]),
            "lost_after_a_find": lost, "found_again_after_lost": refound}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="an experiment run directory (eval/test/ inside)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--window", type=int, default=8, help="episodes the context holds")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    trained, goals = read(args.run / "eval" / "test" / f"seed{args.seed}.json")
    base, goals_b = read(args.run / "eval" / "test" / "baselines.json")
    if not np.array_equal(goals, goals_b):
        raise ValueError("the trained methods' and the baselines' held-out goals differ")
    names = {"agent": "AD", "ed": "ED", "source": "source", "random": "random"}
    out = {"run": str(args.run), "training_seed": args.seed, "window": args.window,
           "episodes": int(trained["agent"].shape[-1]),
           "pairs": f"{goals.shape[0]} goals x {trained['agent'].shape[1]} evaluation seeds",
           "methods": {names[k]: behaviour(v, goals, args.window)
                       for k, v in {**trained, **base}.items() if k in names}}
    text = json.dumps(out, indent=1)
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.json)
    print(text)
    return out


if __name__ == "__main__":
    main()
