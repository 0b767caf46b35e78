"""Dark Room end to end (Laskin et al. 2023, Fig. 4): histories -> AD and ED -> held-out goals.

    python -m adjax.experiments.darkroom --preset quick --out runs/darkroom
"""

import dataclasses

from adjax.experiments.common import (
    ExperimentConfig,
    held_out_and_train,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.experiments.runner import cli
from adjax.model import cpu_model, paper_model
from adjax.sources import a2c, qlearning
from adjax.train import TrainConfig


def quick(env: str = "darkroom") -> ExperimentConfig:
    """Tuned for a 2-core CPU: about 10 minutes end to end (measured runs in experiments/darkroom).

    Source: tabular Q-learning with optimistic initial values (q_init 1) and a backward replay of
    each episode, which explores systematically and reaches ~90% of optimal within ~30 episodes,
    so a 4-episode context shows real progress (the A3C of the `paper` preset needs thousands of
    episodes per stream and accelerator-scale training to distil). 60 episodes per history: on the
    same model and budget, held-out AD return at episode 200 was 12.1 with 60, 11.3 with 120 and
    10.3 with 40 (10 seeds each), i.e. the learning phase must be a large share of the windows.
    Model: the CPU-sized transformer with the factored observation encoder; with the flat
    per-cell table AD memorised the 65 training goals (held-out 0.5, training goals 11.4).
    """
    source = qlearning.Config(num_episodes=60, num_streams=16, lr=1.0, gamma=0.9,
                              eps_start=0.05, eps_end=0.05, q_init=1.0, backward_replay=True,
                              expert_eps=0.05)
    model = cpu_model((9, 9), 5, context_len=80, layout="one", attn_dropout=0.1,
                      obs_encoder="factored")
    train = quick_train()
    return ExperimentConfig(
        name="darkroom", env=env, source=source, model=model, train_ad=train,
        train_ed=dataclasses.replace(train, num_steps=300, warmup_steps=30),
        eval=held_out_and_train(num_episodes=200, num_seeds=20, train_num_seeds=5,
                                train_num_episodes=100),
        expert_episodes=50, chunk_size=65,
    )


def paper(env: str = "darkroom") -> ExperimentConfig:
    """The paper's hyperparameters (A3C source with 100 actors, ff 2048, 1000 eval episodes);
    meant for an accelerator."""
    source = a2c.Config()
    model = paper_model((9, 9), 5, context_len=80, layout="one")
    train = TrainConfig(batch_size=128, num_steps=100_000, warmup_steps=5_000,
                        log_every=500, ckpt_every=5_000, steps_per_call=50)
    return ExperimentConfig(
        name="darkroom", env=env, source=source, model=model, train_ad=train,
        train_ed=dataclasses.replace(train, num_steps=20_000),
        eval=held_out_and_train(num_episodes=1000, num_seeds=20, train_num_seeds=5,
                                batch_size=1024),
        expert_episodes=200, chunk_size=8,
    )


def tiny(env: str = "darkroom") -> ExperimentConfig:
    """Toy size for smoke tests and CI (under a minute): checks the plumbing, not the learning."""
    source = qlearning.Config(num_episodes=6, num_streams=2, lr=1.0, eps_start=0.1, eps_end=0.1,
                              q_init=1.0)
    model = tiny_model((9, 9), 5, context_len=40)
    train = tiny_train()
    return ExperimentConfig(
        name="darkroom", env=env, source=source, model=model, train_ad=train, train_ed=train,
        eval=held_out_and_train(num_episodes=4, num_seeds=2, train_num_seeds=1, batch_size=64),
        expert_episodes=2, chunk_size=65,
    )


PRESETS = {"quick": quick, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("darkroom", PRESETS)
