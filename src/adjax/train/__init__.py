"""Training the AD transformer: windows, loss, data-parallel step, resumable fit (and,
from `adjax.checkpoints`, what reads a trained run: load_run, checkpoint_steps)."""

from adjax.checkpoints import RunConfigError, checkpoint_steps, load_run
from adjax.train.config import TrainConfig, optimizer, paper_train, schedule, with_defaults
from adjax.train.fit import fit
from adjax.train.step import TrainState, init_state, make_train_chunk, train_windows
from adjax.train.windows import (
    Arrays,
    Batch,
    DeviceData,
    action_loss,
    sample_batch,
)

__all__ = ["Arrays", "Batch", "DeviceData", "RunConfigError", "TrainConfig", "TrainState",
           "action_loss", "checkpoint_steps", "fit", "init_state", "load_run", "make_train_chunk",
           "optimizer", "paper_train", "sample_batch", "schedule", "train_windows", "with_defaults"]
