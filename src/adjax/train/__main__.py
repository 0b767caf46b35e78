"""CLI: `python -m adjax.train --data DIR --out RUN_DIR [options]` trains (or resumes) one run."""

import dataclasses
from pathlib import Path
from typing import Literal

import tyro

from adjax.atomic import one_line_errors
from adjax.data import load
from adjax.model import cpu_lstm_model, cpu_model, paper_lstm_model, paper_model
from adjax.model.config import LSTM_SIZES
from adjax.train.config import TrainConfig
from adjax.train.fit import fit


@dataclasses.dataclass(frozen=True)
class Args:
    """Train an AD (learning histories) or ED (expert data) model on a dataset directory."""

    data: Path
    out: Path
    model: Literal["paper", "cpu", "tiny", "paper-lstm", "cpu-lstm", "tiny-lstm"] = "cpu"
    """the transformer's presets, or LSTM-AD's (`adjax.model.lstm`); tiny: one layer of width 16
    (plumbing checks, `python -m adjax.faults`)."""
    layout: Literal["one", "three"] = "one"
    context_episodes: float = 4.0
    """context length in episodes (c = round(context_episodes * episode_len) steps)."""
    context_len: int | None = None
    """context length in steps; overrides context_episodes."""
    token_mask_prob: float | None = None
    attn_dropout: float | None = None
    train: TrainConfig = TrainConfig()
    verify: bool = True
    """check the dataset's checksums when loading."""


def tiny_model(obs_dims, num_actions: int, context_len: int, **overrides):
    """The tiny presets' model (`adjax.experiments.common.tiny_model`): one layer of width 16."""
    return cpu_model(obs_dims, num_actions, context_len, **{
        "d_model": 16, "num_layers": 1, "num_heads": 2, "ff_dim": 32, **overrides})


def tiny_lstm_model(obs_dims, num_actions: int, context_len: int, **overrides):
    """The tiny LSTM-AD: width 16, an LSTM of 16, a 1 x 16 head."""
    return cpu_lstm_model(obs_dims, num_actions, context_len, **{
        "d_model": 16, **LSTM_SIZES["tiny"], **overrides})


PRESETS = {"paper": paper_model, "cpu": cpu_model, "tiny": tiny_model,
           "paper-lstm": paper_lstm_model, "cpu-lstm": cpu_lstm_model,
           "tiny-lstm": tiny_lstm_model}


def main(args: Args) -> None:
    if args.model.endswith("-lstm") and args.layout != "one":  # before loading the data
        raise ValueError(f"--layout {args.layout}: an LSTM model reads one token per step "
                         "(--layout one)")
    ds = load(args.data, verify=args.verify)
    env_cfg = ds.manifest["env_config"]
    c = args.context_len or max(1, round(args.context_episodes * ds.episode_len))
    overrides = {k: v for k, v in (("token_mask_prob", args.token_mask_prob),
                                   ("attn_dropout", args.attn_dropout)) if v is not None}
    model_cfg = PRESETS[args.model](env_cfg["obs_dims"], env_cfg["num_actions"], c,
                                    layout=args.layout, **overrides)
    fit(args.train, model_cfg, ds, args.out)
    print(f"trained {args.out} ({ds.kind} data from {ds.env_name}, c={c} steps)")


if __name__ == "__main__":
    args = tyro.cli(Args)
    with one_line_errors("python -m adjax.train", hard_exit=True):
        main(args)
