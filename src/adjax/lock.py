"""One writer per directory: `with DirLock(path):` around writing a run or dataset directory.

The lock is an advisory `fcntl.flock` on a lock file that also records its owner (pid, host,
command, start time). A second process gets `LockedError` at once, naming the owner. The kernel
releases the flock when its holder dies, however it dies (SIGKILL included), so a lock file left
by a killed process is recognised as stale: the next writer takes it over with a warning naming
the dead owner. A clean exit removes the file (under the flock; a writer that opened the old file
meanwhile sees it is no longer the one at the path and opens it again). flock is reliable on
local filesystems; on NFS it depends on the server.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path


class LockedError(RuntimeError):
    """Another live process is writing the directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirLock:
    """Exclusive lock on `path` (the lock file itself; its parent is created)."""

    def __init__(self, path, what: str = "directory"):
        self.path, self.what, self.fd = Path(path), what, None

    def __enter__(self) -> DirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                owner = self._describe(self._owner())
                raise LockedError(f"{self.path}: {self.what} is being written by another "
                                  f"process ({owner}); wait for it or stop it") from None
            try:  # the file may have been released and removed between open and flock
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        prev = self._owner()
        if prev:  # a holder that did not release: it died (its flock went with it)
            here = prev.get("host") == socket.gethostname()
            state = ("no longer running" if here and not _pid_alive(int(prev.get("pid", -1)))
                     else "its lock released")
            msg = (f"{self.path}: taking over a stale lock of {self._describe(prev)} ({state}); "
                   f"its partial output is resumed or replaced")
            warnings.warn(msg, stacklevel=2)
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "command": " ".join(sys.argv)[:300], "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        return self

    def _owner(self) -> dict:
        try:
            text = self.path.read_text()
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {"pid": "?", "host": "?"}

    @staticmethod
    def _describe(owner: dict) -> str:
        if not owner:
            return "owner unknown"
        return (f"pid {owner.get('pid')} on host {owner.get('host')}"
                + (f", since {owner['since']}" if owner.get("since") else "")
                + (f": {owner['command']}" if owner.get("command") else ""))

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # released cleanly: no lock file left
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def run_lock(run_dir) -> DirLock:
    """The lock of a run directory (training): RUN_DIR/.lock."""
    return DirLock(Path(run_dir) / ".lock", "run directory")


def dataset_lock(out) -> DirLock:
    """The lock of a dataset directory being collected: its hidden sibling .NAME.lock (the
    dataset itself appears by a rename only when complete)."""
    out = Path(out)
    return DirLock(out.parent / f".{out.name}.lock", "dataset")
