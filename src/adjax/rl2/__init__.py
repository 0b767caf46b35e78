"""RL² (Duan et al. 2016; the paper's upper bound): an LSTM actor-critic meta-trained with A2C over
trials of several episodes on the training tasks, evaluated in-context on held-out tasks."""

from adjax.rl2.config import Config, preset
from adjax.rl2.network import RL2Net, replay, step_input, zero_carry
from adjax.rl2.train import RL2State, Trainer, advantages, fit, load_run, task_pool, trainer

__all__ = ["Config", "RL2Net", "RL2State", "Trainer", "advantages", "fit", "load_run", "preset",
           "replay", "step_input", "task_pool", "trainer", "zero_carry"]
