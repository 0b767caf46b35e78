"""Dark Room Hard end to end (Laskin et al. 2023, Fig. 4): 17 x 17, the goal pays once per episode.

    python -m adjax.experiments.darkroom_hard --preset quick --out runs/darkroom_hard

231 training goals, 58 held-out (CONVENTIONS.md). The return of an episode is 1 if the goal was
reached within its 20 steps, so the curve is the share of episodes that find the goal; the
sparse reward is what makes this the exploration test.
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

ENV = "darkroom-hard"


def quick() -> ExperimentConfig:
    """Tuned for a 2-core CPU. Source: the Dark Room quick preset's optimistic Q-learning with
    backward replay (gamma 0.95: the optimism of far, unexplored cells must reach the centre),
    120 episodes per history; it finds the goal in ~80% of streams by episode 120. Model and
    regularisation as the Dark Room quick preset. The paper's Hard settings (attention dropout 0,
    token masking 0.5, label smoothing 0.2) failed at this budget (1500 steps): training accuracy
    stalled at 0.37 and held-out AD stayed at the random policy's 0.05 for 200 episodes (10 seeds
    x 58 goals), on training goals too; they stay in the `paper` preset. With these settings AD
    reaches 0.09 by episode 200. Prompted with 3 converged source episodes of a training goal it
    scores ~0.4 at once (source 0.72 in the prompt): it exploits a found goal, but explores no
    better than random (0.05) — the source's systematic exploration lives in its Q-table, beyond
    a 4-episode context."""
    source = qlearning.Config(num_episodes=120, num_streams=8, lr=1.0, gamma=0.95,
                              eps_start=0.05, eps_end=0.05, q_init=1.0, backward_replay=True,
                              expert_eps=0.05)
    model = cpu_model((17, 17), 5, context_len=80, layout="one", attn_dropout=0.1,
                      obs_encoder="factored")
    train = quick_train()
    return ExperimentConfig(
        name="darkroom_hard", env=ENV, source=source, model=model, train_ad=train,
        train_ed=dataclasses.replace(train, num_steps=300, warmup_steps=30),
        eval=held_out_and_train(num_episodes=200, num_seeds=10, train_num_seeds=2,
                                train_num_episodes=100, train_num_tasks=58),
        expert_episodes=20, chunk_size=77,
    )


def paper() -> ExperimentConfig:
    """The paper's hyperparameters (A3C source with 100 actors, ff 2048, attention dropout 0,
    masking 0.5, label smoothing 0.2, 1000 eval episodes); meant for an accelerator."""
    source = a2c.Config()
    model = paper_model((17, 17), 5, context_len=80, layout="one", attn_dropout=0.0,
                        token_mask_prob=0.5)
    train = TrainConfig(batch_size=128, num_steps=100_000, warmup_steps=5_000, log_every=500,
                        ckpt_every=5_000, steps_per_call=50, label_smoothing=0.2)
    return ExperimentConfig(
        name="darkroom_hard", env=ENV, source=source, model=model, train_ad=train,
        train_ed=dataclasses.replace(train, num_steps=20_000),
        eval=held_out_and_train(num_episodes=1000, num_seeds=20, train_num_seeds=5),
        expert_episodes=200, chunk_size=8,
    )


def tiny() -> ExperimentConfig:
    """Toy size for smoke tests and CI: checks the plumbing, not the learning."""
    source = qlearning.Config(num_episodes=6, num_streams=2, lr=1.0, eps_start=0.1, eps_end=0.1,
                              q_init=1.0)
    model = tiny_model((17, 17), 5, context_len=40, obs_encoder="factored")
    train = tiny_train(label_smoothing=0.2)
    return ExperimentConfig(
        name="darkroom_hard", env=ENV, source=source, model=model, train_ad=train,
        train_ed=train, num_train_tasks=8,
        eval=held_out_and_train(num_episodes=4, num_seeds=2, train_num_seeds=1, num_tasks=4,
                                train_num_tasks=4, batch_size=64),
        expert_episodes=2, chunk_size=8,
    )


PRESETS = {"quick": quick, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("darkroom_hard", PRESETS)
