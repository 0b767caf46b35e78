"""Run every benchmark module and write BENCHMARKS.md and benchmarks/results.json."""

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path

import jax

from adjax.devices import cpu_name, use_cpu_cores

MODULES = ("bench_envs", "bench_watermaze", "bench_sources", "bench_train", "bench_attention",
           "bench_distributed", "bench_evaluate", "bench_rl2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, for checking the scripts")
    ap.add_argument("--only", nargs="*", default=None, help="module names to run")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent
    results_path = root / "results.json"
    # --only reruns some modules and keeps the others' last results (and their markdown).
    results = (json.loads(results_path.read_text())
               if args.only and not args.quick and results_path.exists() else {})
    for name in args.only or MODULES:
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as e:
            print(f"[bench] skipping {name}: {e}")
            continue
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", flush=True)
        out = mod.run(quick=args.quick)
        out["results"]["wall_s"] = round(time.perf_counter() - t0, 1)
        results[name] = {**out["results"], "title": out["title"], "markdown": out["markdown"],
                         "date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_name()}
    # Each section names the CPU it was measured on: `--only` keeps other sections, which may
    # come from another kind of machine (absolute rates differ 2-3x between them).
    sections = [f"## {r['title']}\n\n{r['markdown'].strip()}\n\n_Measured {r['date']}"
                f" on {r.get('cpu', 'a CPU not recorded')}, {r['wall_s']} s._\n"
                for name in MODULES if (r := results.get(name)) and "markdown" in r]
    header = (
        "# Benchmarks\n\nRegenerate with `make bench` (`python -m benchmarks.run`). Machine of "
        f"the last run: {os.cpu_count()} CPUs, {cpu_name()}, Python "
        f"{platform.python_version()}, jax {jax.__version__}, backend {jax.default_backend()}; "
        f"{time.strftime('%Y-%m-%d')}. Ratios are measured against a reference run in the same "
        "command, so they hold up better than absolute rates on a shared machine.\n"
    )
    if not args.quick:
        (root.parent / "BENCHMARKS.md").write_text(header + "\n" + "\n".join(sections))
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(header + "\n" + "\n".join(sections))


if __name__ == "__main__":
    use_cpu_cores()  # before any JAX computation (adjax.devices)
    main()
