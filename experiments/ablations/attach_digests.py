"""Attach configuration digests to an ablation's published points made before points carried
them (2026-12-05), so that a rerun reuses them (and `--draw-paths` only trains AD seed 0 for the
paths) instead of running every value again. Done only when the configurations the code of the
original run built are, field for field, the ones today's code builds.

    python experiments/ablations/attach_digests.py context_size --code ab7b225

--code: the commit the points were made with (the sweep's commit, or the last one changing its
configuration before the run); the script builds every value's configuration with that commit's
code (a temporary git worktree) and with today's, and refuses to write when any field differs.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from adjax.atomic import read_json, write_json
from adjax.experiments.ablation import config_digest
from adjax.report.ablations import label

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
import importlib, json
abl = importlib.import_module("adjax.experiments.{name}").quick()
print(json.dumps({{str(v): abl.variant(v).to_dict() for v in abl.values}}, sort_keys=True,
                 default=str))
"""


def configs(name: str, src: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", DUMP.format(name=name)], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)})
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="the ablation, e.g. context_size")
    ap.add_argument("--code", required=True, help="the commit the published points were made with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", "-q", str(tree),
                        args.code], check=True)
        try:
            then = configs(args.name, tree / "src")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True)
    now = configs(args.name, ROOT / "src")
    if then != now:
        differ = [v for v in now if then.get(v) != now[v]]
        raise SystemExit(f"{args.name}: the configuration of values {differ} differs between "
                         f"{args.code} and today's code: its points are not today's; rerun them")
    abl = importlib.import_module(f"adjax.experiments.{args.name}").quick()
    path = ROOT / "experiments" / "ablations" / args.name / "results.json"
    results = read_json(path)
    digests = {str(v): config_digest(abl.variant(v)) for v in abl.values}
    by_label = {p["label"]: p for p in results["points"]}
    for v in abl.values:
        point = by_label.get(label(v))
        if point is not None and "config" not in point:
            point["config"] = digests[str(v)]
            point["config_attached"] = f"made with {args.code}, same configuration as today's"
    write_json(path, results, checksum=True)
    print(json.dumps({p["label"]: p.get("config") for p in results["points"]}))


if __name__ == "__main__":
    main()
