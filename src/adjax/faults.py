"""Fault harness (`make faults`, `python -m adjax.faults`): the project's own commands, run as
subprocesses at tiny sizes, killed with SIGKILL at seeded random moments, rerun, and compared with
an uninterrupted run; the same commands under a file-size limit (a full disk); corrupted
artefacts. Writes docs/reliability.md (the table of what was tried and what survived) and
docs/reliability.json (every trial).

Kill moments: each stage's uninterrupted duration T is measured first; half of the n moments are
drawn one in each of n/2 equal slices of [0, 1.05 T], the other half one in each of n/2 equal
slices of [0.75 T, 1.05 T], so the moments cover the whole run (JAX start-up and compilation,
which dominates a tiny run, then the work, the final writes and renames, more densely) and some
land after the command has finished (then the rerun must find the output complete and exit 0).
The kills are made in chains, a compromise with the compute budget (compilation dominates a tiny
run, so a fresh run per kill would cost a whole run each): a chain kills the command on one
directory at a moment, reruns it, kills it again at the next moment, and so on until a run
outlives its moment and finishes; that run is compared with the uninterrupted one. Only kills
that landed in a running command are counted. Then a few kills at events (EVENTS: a few ms
after a given file appears: between chunks, before a dataset's rename, during a checkpoint
save), each in a fresh directory, each followed by a rerun.

Every command the harness runs shares one persistent JAX compilation cache (under --work), filled
by each stage's first uninterrupted run; T is then measured on a second, warm run. A tiny run is
mostly compilation, so without the cache most moments would land in the compiler and every rerun
would pay it again; with it the moments land in the work and its writes, and the harness fits its
budget. The commands' results do not depend on it: the cold first run is the reference every
killed-and-rerun (warm) result must match bit for bit. `--no-cache` runs everything cold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adjax.atomic import read_json

ROOT = Path(__file__).resolve().parents[2]
# the shared compilation cache's settings for every command run (set by main; {} = cold runs)
CACHE_ENV: dict[str, str] = {}
COLLECT = ["-m", "adjax.data", "collect", "--source", "qlearning", "--env", "darkroom",
           "--split", "train", "--num-tasks", "8", "--chunk-size", "2",
           "--set", "num_episodes=6", "num_streams=2", "q_init=1.0", "--out", "data"]
TRAIN = ["-m", "adjax.train", "--data", "data", "--out", "run", "--model", "tiny",
         "--context-episodes", "2", "--train.batch-size", "8", "--train.num-steps", "12",
         "--train.warmup-steps", "2", "--train.log-every", "2", "--train.ckpt-every", "4",
         "--train.steps-per-call", "2"]
EVALUATE = ["-m", "adjax.evaluate", "run", "--env", "darkroom", "--split", "val",
            "--episodes", "4", "--seeds", "2", "--batch-size", "8", "--out", "eval/val.json"]
DARKROOM = ["-m", "adjax.experiments.darkroom", "--preset", "tiny", "--out", "exp"]
WALL_TIME_KEYS = {"time", "tokens_per_s", "steps_per_s", "wall_time_s", "invocation_s"}


# A full disk: the file-size limit, and SIGXFSZ ignored (so a write past it fails with EFBIG, as
# on a full disk, instead of killing the process); both survive the exec of the command.
FSIZE_EXEC = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
              "os.execv(sys.argv[2], sys.argv[2:])")


@dataclass
class Result:
    """One subprocess run."""

    rc: int | None
    killed: bool
    seconds: float
    stdout: str
    stderr: str

    def last_line(self) -> str:
        lines = [ln for ln in (self.stderr + "\n" + self.stdout).replace("\r", "\n").splitlines()
                 if ln.strip()]
        errors = [ln[ln.find("python -m"):] if "python -m" in ln else ln
                  for ln in lines if "error" in ln.lower()]
        return (errors or lines or [""])[-1].strip()


def run(args: list[str], cwd: Path, kill_after: float | None = None,
        fsize: int | None = None, timeout: float = 900,
        kill_when: tuple[str, float] | None = None) -> Result:
    """`python ARGS` in cwd (src on PYTHONPATH); SIGKILL after kill_after seconds, or (kill_when:
    (glob under cwd, delay s)) delay seconds after a matching file appears; fsize: the
    RLIMIT_FSIZE in bytes (a full disk: a write past it fails with EFBIG)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TQDM_DISABLE": "1", **CACHE_ENV}
    cmd = [sys.executable, *args]
    if fsize is not None:  # set in the child, then exec (no preexec_fn: this may run threads)
        cmd = [sys.executable, "-c", FSIZE_EXEC, str(fsize), *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    killed = False
    if kill_when is not None:  # poll for the file, then SIGKILL after the delay
        pattern, delay = kill_when
        while p.poll() is None and not next(cwd.glob(pattern), None):
            time.sleep(0.002)
        if p.poll() is None:
            time.sleep(delay)
            kill_after = 0.0
    try:
        out, err = p.communicate(timeout=kill_after if kill_after is not None else timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        killed = kill_after is not None
    if kill_after == 0.0 and p.returncode == -signal.SIGKILL:
        killed = True
    return Result(None if killed else p.returncode, killed, time.perf_counter() - t0, out, err)


# ---- what to compare ----------------------------------------------------------------------


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in WALL_TIME_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def dataset_bytes(d: Path) -> dict:
    """Every array and the manifest of a dataset directory, as bytes."""
    if not (d / "manifest.json").exists():
        return {"missing": str(d)}
    return {f.name: f.read_bytes() for f in sorted(d.iterdir())
            if f.suffix == ".npy" or f.name == "manifest.json"}


def run_state(d: Path) -> dict:
    """A run directory: the sha256 of every leaf of its final parameters (read by a subprocess,
    so this process never starts JAX before forking), its checkpoint steps, config and
    metrics.jsonl without the wall-time fields."""
    res = run(["-m", "adjax.faults", "--params", str(d)], d.parent)
    if res.rc != 0:
        return {"unreadable run": res.last_line()}
    metrics = [_strip(json.loads(ln)) for ln in (d / "metrics.jsonl").read_text().splitlines()]
    steps = sorted(int(p.name) for p in (d / "checkpoints").iterdir() if p.name.isdigit())
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "steps": steps,
            "metrics": metrics, "config": json.loads((d / "config.json").read_text())}


def print_params(d: Path) -> None:
    """Print {"step", "params": {leaf path: sha256 of its bytes}} of a run's latest checkpoint."""
    import hashlib

    import jax

    from adjax.checkpoints import load_run

    _, params, config = load_run(d)
    leaves = jax.tree_util.tree_leaves_with_path(params)
    print(json.dumps({"step": config["step"], "params": {
        jax.tree_util.keystr(k): hashlib.sha256(np.asarray(v).tobytes()).hexdigest()
        for k, v in leaves}}))


def json_file(f: Path) -> dict:
    """A JSON file without its wall-time fields (its checksum verified, when it has one)."""
    if not f.exists():
        return {"missing": str(f)}
    try:
        return _strip(read_json(f))
    except ValueError as e:
        return {"unreadable": str(e)}


def experiment_state(d: Path) -> dict:
    """The experiment's results.json apart from timings, and its datasets' arrays."""
    return {"results": json_file(d / "results.json"),
            "learning": dataset_bytes(d / "data" / "learning"),
            "expert": dataset_bytes(d / "data" / "expert")}


def differences(a, b, path: str = "") -> list[str]:
    """Where two states differ (paths of keys), for the trial log."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += differences(a.get(k), b.get(k), f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "/"]


# ---- stages -----------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    args: list[str]
    state: Callable[[Path], dict]  # cwd -> what must match the uninterrupted run
    prepare: Callable[[Path, Path], None] = lambda cwd, ref: None  # (trial cwd, reference cwd)
    where: Callable[[Path, Result], str] = lambda cwd, res: ""  # where the kill landed


def _link_data(cwd: Path, ref: Path) -> None:
    (cwd / "data").symlink_to(ref.parent / "collect" / "data")


def _link_run(cwd: Path, ref: Path) -> None:
    (cwd / "run").symlink_to(ref.parent / "train" / "run")


def _collect_where(cwd: Path, res: Result) -> str:
    if (cwd / "data" / "manifest.json").exists():
        return "dataset published"
    tmp = next(cwd.glob(".data.tmp-*"), None)
    if tmp is None:
        return "nothing on disk"
    chunks = list((tmp / "chunks").glob("?????.npz")) if (tmp / "chunks").exists() else []
    return f"{len(chunks)}/4 chunks" if (tmp / "chunks").exists() else "assembling"


def _train_where(cwd: Path, res: Result) -> str:
    ck = cwd / "run" / "checkpoints"
    if not ck.exists():
        return "no checkpoint"
    steps = sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit())
    tmp = [p.name for p in ck.iterdir() if not p.name.isdigit()]
    return f"checkpoints {steps}" + (" + a partial save" if tmp else "")


def _eval_where(cwd: Path, res: Result) -> str:
    return "eval JSON written" if (cwd / "eval" / "val.json").exists() else "no output yet"


def _exp_where(cwd: Path, res: Result) -> str:  # the stage the runner had announced
    marks = [ln for ln in res.stdout.splitlines() if ln.startswith("[") and ln.endswith("...")]
    return marks[-1][1:-5].strip("] ") if marks else "start-up"


STAGES = {
    "collect": Stage("collect", COLLECT, lambda c: dataset_bytes(c / "data"), where=_collect_where),
    "train": Stage("train", TRAIN, lambda c: run_state(c / "run"), _link_data, _train_where),
    "evaluate": Stage("evaluate", EVALUATE, lambda c: json_file(c / "eval" / "val.json"),
                      _link_run, _eval_where),
    "darkroom": Stage("darkroom", DARKROOM, lambda c: experiment_state(c / "exp"),
                      where=_exp_where),
}


# ---- trials -------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list = field(default_factory=list)  # one dict per trial

    def add(self, **row):
        self.rows.append(row)
        ok = "ok  " if row["survived"] else "FAIL"
        print(f"  {ok} {row['fault']:<10} {row['stage']:<9} {row.get('detail', '')}", flush=True)


def _fresh(base: Path, name: str) -> Path:
    d = base / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def reference(stage: Stage, base: Path, report: Report) -> tuple[Path, float, float, dict]:
    """The uninterrupted run (cold: it fills the compilation cache) and its state; a second
    uninterrupted run on a fresh directory (warm: its duration T scales the kill moments), which
    must match the first; then the same command again on the complete output: exit 0, 'already
    complete' or equivalent, nothing changed. -> (directory, cold s, warm s, state)"""
    cwd = _fresh(base, stage.name)
    stage.prepare(cwd, cwd)
    res = run(stage.args, cwd)
    if res.rc != 0:
        raise SystemExit(f"{stage.name}: the uninterrupted run failed: {res.last_line()}\n"
                         f"{res.stderr[-3000:]}")
    state = stage.state(cwd)
    warm_cwd = _fresh(base, f"{stage.name}-warm")
    stage.prepare(warm_cwd, cwd)
    warm = run(stage.args, warm_cwd)
    diff = differences(state, stage.state(warm_cwd)) if warm.rc == 0 else ["run failed"]
    report.add(fault="rerun", stage=stage.name, survived=warm.rc == 0 and not diff,
               detail=f"second uninterrupted run, compilation cache warm: exit {warm.rc}, "
                      f"{warm.seconds:.1f} s (cold {res.seconds:.1f} s)"
                      + (f", differs at {diff[:3]}" if diff else ", identical"))
    shutil.rmtree(warm_cwd, ignore_errors=True)
    again = run(stage.args, cwd)
    diff = differences(state, stage.state(cwd)) if again.rc == 0 else []
    report.add(fault="rerun", stage=stage.name, survived=again.rc == 0 and not diff,
               detail=f"rerun of the complete command: exit {again.rc}, {again.seconds:.0f} s"
                      + (f", changed {diff[:3]}" if diff else "")
                      + ("" if again.rc == 0 else f": {again.last_line()}"))
    return cwd, res.seconds, warm.seconds, state


def kill_moments(seconds: float, n: int, rng: random.Random) -> list[float]:
    """n moments: half stratified over [0, 1.05 T] (one uniform draw in each of n//2 equal
    slices), the rest stratified over the last part, [0.75 T, 1.05 T], where a tiny run does its
    work, writes and renames (its first part is start-up and compilation)."""
    a = n // 2
    parts = [(0.0, 1.05 * seconds, a), (0.75 * seconds, 1.05 * seconds, n - a)]
    return [rng.uniform(lo + k * (hi - lo) / m, lo + (k + 1) * (hi - lo) / m)
            for lo, hi, m in parts for k in range(m)]


def chain_trials(stage: Stage, base: Path, ref_cwd: Path, ref_seconds: float, ref_state: dict,
                 n: int, rng: random.Random, report: Report) -> None:
    """n kills that land in a running command. A chain runs the command on a fresh directory and
    kills it at the next of the `kill_moments` (a fresh list of n, shuffled, when one runs out),
    reruns it and kills it again, until a run finishes before its moment (or n kills are made:
    then one last run to completion); that finished run is compared with the uninterrupted one,
    and the chain's kills count as survived when it matched and no run failed."""
    kills, chain, attempts, moments, seconds = 0, 0, 0, [], ref_seconds
    while kills < n and attempts < 4 * n:
        cwd = _fresh(base, f"{stage.name}-chain{chain}")
        stage.prepare(cwd, ref_cwd)
        rows = []
        while True:
            if not moments:  # fractions of the duration, so a changed duration rescales them
                moments = kill_moments(1.0, n, rng)
                rng.shuffle(moments)
            t = moments.pop() * seconds
            attempts += 1
            res = run(stage.args, cwd, kill_after=t)
            if not res.killed:
                final, how = res, f"a run outlived its moment t={t:.1f}s"
                if not rows and res.rc == 0:  # a fresh run's duration: the machine's speed now
                    seconds = res.seconds
                break
            kills += 1
            rows.append(dict(fault="SIGKILL", stage=stage.name, survived=True,
                             moment_s=round(t, 2), at=stage.where(cwd, res), chain=chain,
                             detail=f"chain {chain}: t={t:5.1f}s, {stage.where(cwd, res)}"))
            if kills >= n or attempts >= 4 * n:
                final, how = run(stage.args, cwd), "the last run"
                break
        diff = differences(ref_state, stage.state(cwd)) if final.rc == 0 else ["rerun failed"]
        matched = final.rc == 0 and not diff
        for row in rows:
            row["survived"] = matched
            report.add(**row)
        report.add(fault="rerun", stage=stage.name, survived=matched, chain=chain,
                   detail=f"chain {chain}: after {len(rows)} kills, {how}: exit {final.rc}"
                          + (f", differs at {diff[:3]}" if diff else ", identical")
                          + ("" if final.rc == 0 else f": {final.last_line()}"))
        shutil.rmtree(cwd, ignore_errors=True)
        chain += 1


# Kills at events (a few ms after a file appears), where a moment drawn on the clock rarely lands
# when the load changes a run's speed: between chunks, while assembling, before the rename, during
# a checkpoint save, right after a result is written.
EVENTS = {
    "collect": (".data.tmp-*/chunks/00001.npz", ".data.tmp-*/manifest.json",
                ".data.tmp-*/.learning_curve.*"),
    "train": ("run/checkpoints/*.orbax-checkpoint-tmp*", "run/checkpoints.sha256.json",
              "run/checkpoints/12.orbax-checkpoint-tmp*"),
    "evaluate": ("eval/val.json",),
    "darkroom": ("exp/runs/ad/seed0/checkpoints/*.orbax-checkpoint-tmp*",),
}


def event_trials(stage: Stage, base: Path, ref_cwd: Path, ref_state: dict, rng: random.Random,
                 report: Report) -> None:
    """For each of the stage's EVENTS: a fresh run killed 0-50 ms after the file appears, the
    rerun, compared with the uninterrupted run."""
    for k, pattern in enumerate(EVENTS[stage.name]):
        cwd = _fresh(base, f"{stage.name}-event{k}")
        stage.prepare(cwd, ref_cwd)
        delay = rng.uniform(0.0, 0.05)
        first = run(stage.args, cwd, kill_when=(pattern, delay))
        where = stage.where(cwd, first) if first.killed else "finished before the event"
        second = run(stage.args, cwd)
        diff = differences(ref_state, stage.state(cwd)) if second.rc == 0 else ["rerun failed"]
        ok = second.rc == 0 and not diff
        report.add(fault="SIGKILL" if first.killed else "rerun", stage=stage.name, survived=ok,
                   event=pattern,
                   moment_s=round(first.seconds, 2),
                   detail=f"{delay * 1000:.0f} ms after {pattern} appeared ({where}); rerun "
                          f"exit {second.rc}" + (f", differs at {diff[:3]}" if diff else
                                                 ", identical")
                          + ("" if second.rc == 0 else f": {second.last_line()}"))
        shutil.rmtree(cwd, ignore_errors=True)


# File-size limits (bytes) per stage: one hit by the first files written (chunks, config,
# checkpoint metadata), one by a larger file late in the run (the figure, checkpoint arrays).
# The tiny Dark Room command: 2 kB stops its first file (experiment.json), 60 kB its first
# collection chunk, after its configuration and lock are written.
FULL_DISK = {"collect": (3_000, 20_000), "train": (1_000, 10_000),
             "evaluate": (2_000, 20_000), "darkroom": (2_000, 60_000)}


def _run_intact(d: Path) -> str | None:
    """None when a training run directory holds no partial file a reader would take as whole."""
    for f in (d / "config.json", d / "checkpoints.sha256.json"):
        if f.exists() and "unreadable" in json_file(f):
            return f"{f} is partial"
    steps = [p for p in (d / "checkpoints").glob("*") if p.name.isdigit()]
    for p in steps:  # a step directory appears only by orbax's final rename
        if not (p / "commit_success.txt").exists() and not (p / "_CHECKPOINT_METADATA").exists():
            return f"{p} is a partial checkpoint"
    return None


def _json_intact(files) -> str | None:
    """None when every JSON file (temporary siblings, dot-named, excepted) reads whole."""
    for f in files:
        if not f.name.startswith(".") and "unreadable" in json_file(f):
            return f"{f} is partial or damaged"
    return None


def _intact(stage: str, cwd: Path) -> str | None:
    """None when every artefact a reader would take as complete is complete; else what is not."""
    if stage == "collect":
        d = cwd / "data"
        if d.exists() and dataset_bytes(d).get("missing"):
            return f"{d} exists without a manifest"
        return None
    if stage == "train":
        return _run_intact(cwd / "run")
    if stage == "evaluate":
        return _json_intact([cwd / "eval" / "val.json"])
    exp = cwd / "exp"  # the Dark Room command: datasets, training runs, every JSON it wrote
    for d in (exp / "data" / "learning", exp / "data" / "expert"):
        if d.exists() and dataset_bytes(d).get("missing"):
            return f"{d} exists without a manifest"
    for d in sorted((exp / "runs").glob("*/seed*")):
        if (problem := _run_intact(d)) is not None:
            return problem
    return _json_intact(sorted((exp / "eval").rglob("*.json")) + [exp / "results.json"])


def full_disk_trials(stage: Stage, base: Path, ref_cwd: Path, ref_state: dict,
                     report: Report) -> None:
    """The command under each RLIMIT_FSIZE of FULL_DISK: it must fail with one error line naming
    the path written, leave no partial file where a complete one is expected, and the rerun
    without the limit must finish and match the uninterrupted run."""
    for limit in FULL_DISK[stage.name]:
        cwd = _fresh(base, f"{stage.name}-disk{limit}")
        stage.prepare(cwd, ref_cwd)
        res = run(stage.args, cwd, fsize=limit)
        ours = [ln[ln.find("python -m adjax."):] for ln in res.stderr.replace("\r", "\n")
                .splitlines() if "python -m adjax." in ln and ": error: " in ln]
        line = ours[-1] if ours else res.last_line()
        named = bool(ours) and any(w in line for w in ("data", "run", "eval", "exp"))
        if ours and res.last_line() != line:  # something printed after the error line
            line += " (then more output: " + res.last_line()[:60] + ")"
        partial = _intact(stage.name, cwd)
        again = run(stage.args, cwd)
        diff = differences(ref_state, stage.state(cwd)) if again.rc == 0 else ["rerun failed"]
        ok = res.rc not in (0, None) and named and partial is None and not diff
        report.add(fault="full disk", stage=stage.name, survived=ok, limit=limit,
                   detail=f"RLIMIT_FSIZE {limit} B: exit {res.rc}, '{line[:160]}'"
                          + (f"; {partial}" if partial else "; nothing partial")
                          + (f"; rerun exit {again.rc}"
                             + (f", differs at {diff[:3]}" if diff else ", identical")))
        shutil.rmtree(cwd, ignore_errors=True)


CASES = {"hostile_input": "hostile input", "writer": "two writers", "refuses": "two writers",
         "checkpoint": "corruption", "corrupted": "corruption"}


def test_trials(report: Report) -> None:
    """The two-writer, corruption and hostile-input cases of tests/test_faults.py (run by pytest
    in a subprocess), one row each."""
    res = run(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "tests/test_faults.py",
               "-k", "not kill_in_collection"], ROOT)
    for ln in res.stdout.splitlines():
        word, _, test = ln.partition(" ")
        if word not in ("PASSED", "FAILED", "ERROR") or "::" not in test:
            continue
        name = test.split("::", 1)[1].split(" - ")[0]
        fault = next((v for k, v in CASES.items() if k in name), "other")
        report.add(fault=fault, stage="test", survived=word == "PASSED",
                   detail=f"{name}: {word.lower()}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m adjax.faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/faults"))
    ap.add_argument("--kills", type=int, default=10, help="SIGKILL moments per stage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", nargs="*", default=["collect", "train", "evaluate", "darkroom"])
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "reliability.md")
    ap.add_argument("--no-disk", action="store_true", help="skip the full-disk trials")
    ap.add_argument("--no-events", action="store_true", help="skip the kills at events")
    ap.add_argument("--no-cache", action="store_true",
                    help="no shared compilation cache: every run compiles (slower; moments land "
                         "mostly in the compiler)")
    ap.add_argument("--no-tests", action="store_true",
                    help="skip the two-writer, corruption and hostile-input tests")
    ap.add_argument("--params", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--from-json", action="store_true",
                    help="rewrite the table and figure from DOC's .json, running nothing")
    args = ap.parse_args(argv)
    if args.params is not None:
        return print_params(args.params)
    if args.from_json:
        d = json.loads(Path(args.doc).with_suffix(".json").read_text())
        args.seed, args.kills = d["seed"], d["kills"]
        return write_report(d["trials"], d["durations_s"], d["total_s"], args)
    base = args.work.absolute()
    base.mkdir(parents=True, exist_ok=True)
    if not args.no_cache:
        cache = base / "jax-cache"
        shutil.rmtree(cache, ignore_errors=True)  # every harness run starts cold
        CACHE_ENV.update({"JAX_COMPILATION_CACHE_DIR": str(cache),
                          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                          "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"})
    rng = random.Random(args.seed)
    report, t0, durations = Report(), time.perf_counter(), {}
    needs = {"train": "collect", "evaluate": "train"}
    wanted = set(args.stages)
    for name in ("evaluate", "train"):
        if name in wanted:
            wanted.add(needs[name])
    for name in ("collect", "train", "evaluate", "darkroom"):
        if name not in wanted:
            continue
        stage = STAGES[name]
        print(f"[{name}] uninterrupted run", flush=True)
        ref_cwd, cold, secs, state = reference(stage, base, report)
        durations[name] = round(secs, 1)
        durations[f"{name} (cold)"] = round(cold, 1)
        if name in args.stages:
            print(f"[{name}] {args.kills} kills, moments over {1.05 * secs:.0f} s", flush=True)
            chain_trials(stage, base, ref_cwd, secs, state, args.kills, rng, report)
        if name in args.stages and not args.no_events:
            print(f"[{name}] kills at events", flush=True)
            event_trials(stage, base, ref_cwd, state, rng, report)
        if name in args.stages and name in FULL_DISK and not args.no_disk:
            print(f"[{name}] full disk", flush=True)
            full_disk_trials(stage, base, ref_cwd, state, report)
        # after every stage, so a stopped harness still leaves what it measured
        write_report(report.rows, durations, time.perf_counter() - t0, args)
    if not args.no_tests:
        print("[tests] two writers, corruption, hostile inputs (tests/test_faults.py)", flush=True)
        test_trials(report)
    total = time.perf_counter() - t0
    write_report(report.rows, durations, total, args)
    bad = [r for r in report.rows if not r["survived"]]
    print(f"{len(report.rows)} trials, {len(bad)} failed, {total / 60:.1f} min", flush=True)
    sys.exit(1 if bad else 0)


def plot_kills(rows: list[dict], durations: dict, path: Path) -> Path:
    """Each SIGKILL as a dot at its moment (a fraction of the stage's uninterrupted duration),
    one row per stage, by what it interrupted: a fresh run or a rerun in a chain; red if the
    chain's final result did not match."""
    from matplotlib.figure import Figure

    from adjax.atomic import save_figure

    stages = [s for s in ("collect", "train", "evaluate", "darkroom") if s in durations]
    fig = Figure(figsize=(6.5, 0.6 + 0.45 * len(stages)))
    ax = fig.subplots()
    for i, st in enumerate(stages):
        kills = [r for r in rows if r["fault"] == "SIGKILL" and r["stage"] == st
                 and "moment_s" in r]
        for r in kills:
            x = r["moment_s"] / durations[st]
            ax.plot(x, i, "o", ms=5, alpha=0.7,
                    color="tab:blue" if r["survived"] else "tab:red")
    ax.set_yticks(range(len(stages)),
                  [f"{s} ({durations[s]:.0f} s)" for s in stages], fontsize=8)
    ax.set_xlabel("kill moment / uninterrupted duration (a moment in a rerun is measured from "
                  "the rerun's start)", fontsize=7)
    ax.set_xlim(0, 1.1)
    ax.set_ylim(-0.6, len(stages) - 0.4)
    ax.axvline(1.0, color="k", lw=0.6, ls="--")
    ax.set_title("SIGKILL moments (blue: the rerun matched the uninterrupted run)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def write_report(rows: list[dict], durations: dict, total: float, args) -> None:
    from adjax.atomic import write_json, write_text

    doc = Path(args.doc)
    write_json(doc.with_suffix(".json"), {"seed": args.seed, "kills": args.kills,
                                          "durations_s": durations, "total_s": round(total, 1),
                                          "trials": rows})
    plot_kills(rows, durations, doc.with_suffix(".png"))
    groups: dict = {}
    for r in rows:
        g = groups.setdefault((r["fault"], r["stage"]), [0, 0])
        g[0] += 1
        g[1] += bool(r["survived"])
    lines = ["| fault | stage | tried | survived |", "|---|---|---:|---:|"]
    lines += [f"| {f} | {s} | {n} | {ok} |" for (f, s), (n, ok) in groups.items()]
    trials = [f"| {r['fault']} | {r['stage']} | {'yes' if r['survived'] else '**no**'} | "
              f"{r.get('detail', '').replace('|', '/')} |" for r in rows]
    write_text(doc, RELIABILITY.format(
        command="make faults" if args.kills == 10 else
        f"python -m adjax.faults --kills {args.kills}", seed=args.seed,
        durations=", ".join(f"{k} {v} s" for k, v in durations.items()),
        total=total / 60, table="\n".join(lines), trials="\n".join(trials)))


RELIABILITY = """# Reliability, measured with real faults

Written by `{command}` (`python -m adjax.faults`, seed {seed}); regenerate with the same command.
Do not edit by hand. The harness runs the project's own commands as subprocesses at tiny sizes,
kills them with SIGKILL at seeded random moments, reruns the same command and compares the
result with an uninterrupted run: dataset arrays and manifest byte-identical, final parameters
bit-identical (and metrics.jsonl identical apart from its wall-time fields), evaluation JSON
identical, the Dark Room experiment's results.json identical apart from its timings. A trial
survived when the rerun exited 0 and everything matched. Full disk: the command under an
RLIMIT_FSIZE must fail with one error line naming the path, leave no partial file where a
complete one is expected, and the rerun without the limit must match. Two writers, corruption
and hostile inputs: the cases of tests/test_faults.py, one row each (a lock held by a live
process refused at once, a killed owner's lock taken over; bit-flipped and truncated
checkpoints, metrics.jsonl, dataset arrays and results JSON named or recovered from; bad
command-line values and files refused with one line naming the field and value, before any
computation, changing nothing on disk). Every run shares one persistent JAX compilation cache,
filled by each stage's first (cold) uninterrupted run, which is the reference; a second, warm
uninterrupted run sets the time scale of the kill moments, so they land in the work and its
writes rather than in the compiler (`--no-cache` runs everything cold).

Uninterrupted durations on this machine: {durations}. Whole harness: {total:.1f} min.

{table}

![SIGKILL moments](reliability.png)

## Every trial

| fault | stage | survived | what happened |
|---|---|---|---|
{trials}
"""


if __name__ == "__main__":
    main()
