"""Atomic file writes: a temporary sibling, then a rename, so no reader sees a partial file."""

import json
import os
import tempfile
from pathlib import Path


def write_text(path, text: str) -> Path:
    """Write `text` to `path` (parents created) through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path, obj, indent: int | None = 1) -> Path:
    """JSON of `obj` (with a final newline) written atomically."""
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path, error: type[Exception] = ValueError):
    """JSON of `path`; a missing, truncated or otherwise unreadable file raises `error` naming it
    (a bare JSONDecodeError names neither the file nor what to do)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise error(f"{path}: no such file") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: unreadable JSON, truncated or corrupted ({e})") from e


def save_figure(fig, path, dpi: int = 110) -> Path:
    """A matplotlib Figure as PNG, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
