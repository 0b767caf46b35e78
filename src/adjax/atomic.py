"""Atomic file writes: a temporary sibling, then a rename, so no reader sees a partial file."""

import contextlib
import errno
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from adjax.lock import LockedError

DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
CHECKSUM = "content_sha256"  # a results JSON's own checksum (write_json(checksum=True))


@contextlib.contextmanager
def disk_errors(path):
    """Re-raise a full disk (no space, file too large, quota) as an OSError naming `path`; the
    libraries' own errors often name no file."""
    try:
        yield
    except OSError as e:
        if e.errno in DISK_FULL and not e.filename:
            raise OSError(e.errno, f"{e.strerror} (disk full?) writing {path}") from e
        raise


@contextlib.contextmanager
def one_line_errors(prog: str, hard_exit: bool = False):
    """A command's expected failures (bad values, damaged or locked files, a full disk) as one
    line `PROG: error: ...` and exit status 2 instead of a traceback; ADJAX_TRACEBACK=1 shows
    the traceback. hard_exit: leave at once (os._exit) so that no background thread (orbax's
    checkpoint writers, failing on the same full disk) prints its own traceback after the line;
    for a command's __main__ only, never in a process that should go on."""
    try:
        yield
    except (ValueError, TypeError, OSError, LockedError, FloatingPointError) as e:
        if os.environ.get("ADJAX_TRACEBACK"):
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"{prog}: error: {msg}", file=sys.stderr, flush=True)
        if hard_exit:
            sys.stdout.flush()
            os._exit(2)
        raise SystemExit(2) from None


@contextlib.contextmanager
def replacing(path, suffix: str = ".tmp"):
    """Yield a temporary sibling of `path` (parents created) to write; when the block ends it is
    renamed onto `path`, or removed if the block raised, so `path` is never partial and earlier
    contents survive a failed write. `suffix` ends the temporary name (np.savez wants ".npz")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        with disk_errors(path):
            yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    """Write `text` to `path` (parents created) through a temporary sibling and a rename."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _digest(obj) -> str:
    """sha256 of a JSON value's canonical text (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def write_json(path, obj, indent: int | None = 1, checksum: bool = False) -> Path:
    """JSON of `obj` (with a final newline) written atomically. checksum: `obj` (a dict) gets a
    last field CHECKSUM, the sha256 of the rest, which `read_json` checks and removes: a results
    file whose numbers were changed after writing (a flipped digit still parses) is refused."""
    if checksum:
        if not isinstance(obj, dict) or CHECKSUM in obj:
            raise TypeError(f"write_json(checksum=True) needs a dict without {CHECKSUM!r}")
        body = json.loads(json.dumps(obj))  # as it reads back: tuples -> lists, keys -> str
        obj = {**body, CHECKSUM: _digest(body)}
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path, error: type[Exception] = ValueError):
    """JSON of `path`; a missing, truncated or otherwise unreadable file raises `error` naming it
    (a bare JSONDecodeError names neither the file nor what to do), as does a dict whose
    CHECKSUM field does not match the rest. The checksum field is removed from what is
    returned; files without one (hand-written configs, results written before it) are read as
    they are."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise error(f"{path}: no such file") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: unreadable JSON, truncated or corrupted ({e})") from e
    if isinstance(obj, dict) and CHECKSUM in obj:
        want = obj.pop(CHECKSUM)
        if _digest(obj) != want:
            raise error(f"{path}: its content does not match its {CHECKSUM} (changed or "
                        "corrupted after it was written); rerun the command that wrote it")
    return obj


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB blocks (datasets' and checkpoints' checksums)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def save_figure(fig, path, dpi: int = 110) -> Path:
    """A matplotlib Figure as PNG, written atomically."""
    with replacing(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
