"""`python -m adjax.launch --processes N -- COMMAND ...`: COMMAND as N local processes of one JAX
job (tests, and machines with several sockets; a cluster starts its processes itself: see
docs/scaling.md).

Each process gets ADJAX_COORDINATOR (localhost and a free port), ADJAX_NUM_PROCESSES,
ADJAX_PROCESS_ID and, unless set already, ADJAX_CPU_DEVICES: its share of the CPU devices
(`adjax.devices.default_cpu_devices() // N`, at least 1). Their output is streamed line by line
with a `[pI] ` prefix. When one process fails the others are stopped (SIGTERM, then SIGKILL
after --grace seconds) and the launcher exits with that process's status after one line naming
it; SIGINT and SIGTERM sent to the launcher are passed on to every process, and those still
running --grace seconds later are killed (a process blocked in a collective runs no handler).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PROG = "python -m adjax.launch"


def free_port() -> int:
    """A TCP port free on localhost now (the coordinator binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def process_env(base: dict, i: int, n: int, port: int, cpu_devices: int | None) -> dict:
    """The environment of process i of n."""
    env = {**base, "ADJAX_COORDINATOR": f"localhost:{port}", "ADJAX_NUM_PROCESSES": str(n),
           "ADJAX_PROCESS_ID": str(i), "PYTHONUNBUFFERED": "1"}
    if cpu_devices is not None:
        env["ADJAX_CPU_DEVICES"] = str(cpu_devices)
    return env


def _pump(stream, prefix: str, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
        out.flush()
    stream.close()


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                 usage=f"{PROG} --processes N [options] -- COMMAND ...")
    ap.add_argument("--processes", type=int, required=True, help="how many processes (>= 1)")
    ap.add_argument("--port", type=int, default=None, help="coordinator port (default: a free "
                    "one)")
    ap.add_argument("--cpu-devices", type=int, default=None,
                    help="CPU devices per process (default: ADJAX_CPU_DEVICES if set, else "
                    "this machine's default divided among the processes)")
    ap.add_argument("--grace", type=float, default=10.0,
                    help="seconds between SIGTERM and SIGKILL when stopping the others")
    if "--" not in argv:
        ap.error("put the command after --, e.g. -- python -m adjax.train --data D --out R")
    cut = argv.index("--")
    args = ap.parse_args(argv[:cut])
    args.command = argv[cut + 1:]
    if not args.command:
        ap.error("no command after --")
    if args.processes < 1:
        ap.error(f"--processes must be >= 1, got {args.processes}")
    if args.port is not None and not 0 < args.port < 65536:
        ap.error(f"--port must be in 1..65535, got {args.port}")
    if args.cpu_devices is not None and args.cpu_devices < 1:
        ap.error(f"--cpu-devices must be >= 1, got {args.cpu_devices}")
    if args.grace < 0:
        ap.error(f"--grace must be >= 0, got {args.grace}")
    return args


def cpu_share(n: int, given: int | None) -> int | None:
    """CPU devices per process: given, else None when ADJAX_CPU_DEVICES is set (kept as is),
    else the machine's default divided by n (at least 1)."""
    if given is not None:
        return given
    if os.environ.get("ADJAX_CPU_DEVICES"):
        return None
    from adjax.devices import default_cpu_devices

    return max(1, default_cpu_devices() // n)


def run(args: argparse.Namespace) -> int:
    n, port = args.processes, args.port or free_port()
    share = cpu_share(n, args.cpu_devices)
    procs, pumps = [], []
    received, since = [], []

    def forward(signum, _frame):
        received.append(signum)
        since.append(time.monotonic())
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    for i in range(n):
        try:
            p = subprocess.Popen(args.command, env=process_env(dict(os.environ), i, n, port, share),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 bufsize=1, start_new_session=True)
        except OSError as e:
            _stop(procs, args.grace)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            print(f"{PROG}: error: cannot start {args.command[0]!r}: {e.strerror}",
                  file=sys.stderr, flush=True)
            return 2
        procs.append(p)
        for stream, out in ((p.stdout, sys.stdout), (p.stderr, sys.stderr)):
            t = threading.Thread(target=_pump, args=(stream, f"[p{i}] ", out), daemon=True)
            t.start()
            pumps.append(t)
    try:
        failed = None
        while failed is None and any(p.poll() is None for p in procs):
            failed = next((i for i, p in enumerate(procs) if p.poll() not in (None, 0)), None)
            if failed is None and since and time.monotonic() - since[0] > args.grace:
                # a process blocked in a collective (gloo, the coordination service) runs no
                # Python handler: what the forwarded signal did not stop within grace is killed
                _stop(procs, 0.0)
            elif failed is None:
                time.sleep(0.05)
        if failed is None:
            failed = next((i for i, p in enumerate(procs) if p.returncode != 0), None)
        if failed is not None:
            _stop(procs, args.grace)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for t in pumps:
            t.join(timeout=5)
    if failed is None:
        return 0
    code = procs[failed].returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    why = f" after {signal.Signals(received[0]).name}" if received else ""
    print(f"{PROG}: error: process {failed} of {n} (pid {procs[failed].pid}) {how}{why}; "
          "stopped the others", file=sys.stderr, flush=True)
    return 128 - code if code < 0 else code


def _stop(procs, grace: float) -> None:
    """SIGTERM to every live process (its whole session), SIGKILL to those left after grace."""
    def signal_all(sig):
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    signal_all(signal.SIGKILL)
    for p in procs:
        p.wait()


def main(argv: list[str] | None = None) -> int:
    return run(parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
