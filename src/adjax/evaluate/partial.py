"""The saved chunks of an unfinished evaluation, so that a stopped one resumes where it was.

`evaluate_run(..., out)` keeps them in `partial_dir(out)` (`.NAME.json.partial/`, beside the
output): `settings.json` (what they were made with) and one directory per split and curve holding
`{start}-{size}.npy`, the returns float32[size, episodes] of the chunk of task-seed pairs from
`start`. Chunks made with other settings are discarded; a finished evaluation removes them all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from adjax.atomic import read_json, replacing, write_json


def partial_dir(out) -> Path:
    """Where `evaluate_run` keeps the chunks of an unfinished evaluation of `out`."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


def keep_for(partial: Path, settings: dict) -> None:
    """Keep the saved chunks in `partial` only if they were made with these `settings` (the
    checkpoints evaluated, episodes, seeds, temperature, ...); otherwise start it afresh."""
    record = partial / "settings.json"
    if partial.exists():
        try:
            same = read_json(record) == settings
        except (OSError, ValueError):
            same = False
        if same:
            return
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    write_json(record, settings)


def chunk_path(save_dir, start: int, size: int) -> Path:
    return Path(save_dir) / f"{start}-{size}.npy"


def read_chunk(path: Path, size: int) -> np.ndarray:
    """A saved chunk's returns float32[size, E]; one that cannot be read or has another shape
    (a damaged file) is an error naming it: delete it (or the directory) to run it again."""
    try:
        out = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable saved evaluation chunk ({e}); delete it to run "
                         "that chunk again") from e
    if out.ndim != 2 or out.shape[0] != size or out.dtype != np.float32:
        raise ValueError(f"{path}: saved evaluation chunk has shape {out.shape} {out.dtype}, "
                         f"expected [{size}, episodes] float32; delete it to run it again")
    return out


def save_chunk(path: Path, returns: np.ndarray) -> None:
    """Write a chunk's returns atomically (a kill leaves it whole or absent)."""
    with replacing(path, suffix=".npy") as tmp:
        np.save(tmp, returns)
