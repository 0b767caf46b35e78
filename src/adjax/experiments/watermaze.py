"""Watermaze end to end (Laskin et al. 2023, Fig. 4): histories -> AD and ED on pixels -> held-out
platforms.

    python -m adjax.experiments.watermaze --preset quick --out runs/watermaze

The datasets store each step's renderer state (x, y, heading), not frames; training windows and
evaluation render the first-person frames on device, at the resolution of `env_config`, and AD
reads them through the image encoder. Held-out platforms are the `test` set, choices are made on
`val`; 160 evaluation episodes as the paper's figure. Watermaze has no closed-form optimal return,
so the baselines are the random policy and the source learning the held-out platforms from
scratch on the env-step axis.
"""

import dataclasses

from adjax.envs import Watermaze
from adjax.experiments.command import cli
from adjax.experiments.common import (
    ExperimentConfig,
    SourceCurve,
    grid_splits,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.model import cpu_model, paper_model, with_image_encoder
from adjax.sources import a2c, dqn, qlearning

NUM_ACTIONS = Watermaze.num_actions
EPISODES = 160  # evaluation episodes on the held-out platforms (the paper's Fig. 4)


def _frames(env_config: dict) -> tuple[int, int, int]:
    return env_config.get("height", 72), env_config.get("width", 96), 3


def quick() -> ExperimentConfig:
    """The 2-core CPU preset, at 12x16 pixels: the source is A2C reading the agent's state
    (x, y, cos and sin of the heading; the frames' pixel DQN is out of reach on a CPU), 16 actors
    on each of 200 training platforms, one 50-step episode per update for 100 updates, each
    actor's stream its own history (3200 histories of 100 episodes), at lr 1e-2 and the paper's
    discount 0.9, which make its policy sharp enough to distil. AD and ED read the rendered
    frames through the CPU image encoder, with a context of 150 steps (3 episodes), 3000 steps of
    16 windows, one step per compiled call (XLA:CPU runs convolutions several times slower inside
    a loop). Evaluated over 160 episodes on 16 held-out platforms x 20 seeds. What was tried:
    experiments/watermaze/NOTES.md."""
    env_config = {"height": 12, "width": 16}
    source = a2c.Config(num_actors=16, num_updates=100, unroll=50, lr=1e-2, gamma=0.9)
    model = with_image_encoder(
        cpu_model(_frames(env_config), NUM_ACTIONS, context_len=150, layout="one",
                  attn_dropout=0.1, token_mask_prob=0.0), _frames(env_config), "cpu")
    train = quick_train(batch_size=16, num_steps=3000, warmup_steps=300, peak_lr=1e-3,
                        ckpt_every=250, steps_per_call=1)
    return ExperimentConfig(
        train_seeds=3,
        name="watermaze", env="watermaze", env_config=tuple(env_config.items()),
        source=source, model=model, train_ad=train, train_ed=train, num_train_tasks=200,
        eval=grid_splits(num_episodes=EPISODES, num_seeds=20, num_tasks=16, other_seeds=5,
                         other_tasks=16, test_baselines=("random",), batch_size=64),
        expert_episodes=8, chunk_size=20,
        source_curves=(SourceCurve(1, EPISODES * 50, num_seeds=5, num_tasks=16,
                                   batch_size=80),),
    )


def tabular() -> ExperimentConfig:
    """The quick preset with a tabular source whose streams learn each on its own (candidate for
    quick, to be chosen on validation platforms): Q-learning on the agent's state
    (`Watermaze.source_cell`: position in squares of 0.2, heading in 16 sectors; whether the
    platform was found this episode), lr 0.5, the paper's discount 0.9, epsilon 0.05, q_init 0,
    backward replay, 16 streams x 100 episodes on each of 200 training platforms (the quick
    preset's 3200 histories of 100 episodes). Model, training and evaluation as quick's; its
    source baseline is the same learner from scratch on each held-out platform, one stream.
    experiments/watermaze/NOTES.md has the source probe behind it."""
    base = quick()
    source = qlearning.Config(num_episodes=100, num_streams=16, lr=0.5, gamma=0.9,
                              eps_start=0.05, eps_end=0.05, q_init=0.0, backward_replay=True,
                              reward_levels=2, expert_eps=0.05)
    ev = base.eval
    test = dataclasses.replace(ev.splits[0], baselines=("random", "source"))
    return dataclasses.replace(base, source=source, source_curves=(),
                               eval=dataclasses.replace(ev, splits=(test, *ev.splits[1:])))


def subsampled() -> ExperimentConfig:
    """The quick preset with the improvement spread over each history (candidate for quick, to
    be chosen on validation platforms): the same A2C source with a 20x smaller learning rate
    (5e-4) run 5x longer (500 updates of one 50-step episode), with every 5th episode kept
    (the paper's Fig. 6 subsampling; 100 kept episodes per stream, as quick's), and a context
    of 250 steps (5 kept episodes, spanning 25 of the source's). Model otherwise, training and
    evaluation as quick's. experiments/watermaze/NOTES.md has the source probe behind the
    learning rate."""
    base = quick()
    model = dataclasses.replace(base.model, context_len=250)
    return dataclasses.replace(base, source=dataclasses.replace(base.source, lr=5e-4,
                                                                num_updates=500),
                               model=model, subsample_every=5)


def streams() -> ExperimentConfig:
    """The quick preset with one learner per stream (a candidate for quick, tried on
    validation platforms and not adopted: AD flat at random, NOTES): A2C with one actor on each
    of 3200 training platforms (the paper's Fig. 6 single-stream A3C), so that what a history
    shows improving is caused by its own episodes, not by 15 other actors sharing its network
    (quick's source). lr 1e-3 and 500 updates of one 50-step episode: on training platforms a
    stream's success rises gradually, 0.32 -> 0.88 over its 500 episodes
    (experiments/watermaze/NOTES.md); every 5th episode kept (100 per history, as quick's), a
    context of 400 steps (8 kept episodes, 40 of the source's), learners 4 at a time per
    device (one-actor learners run fastest so: BENCHMARKS.md). Model otherwise, training and
    evaluation as quick's."""
    base = quick()
    source = dataclasses.replace(base.source, num_actors=1, lr=1e-3, num_updates=500)
    return dataclasses.replace(base, source=source, num_train_tasks=3200, subsample_every=5,
                               model=dataclasses.replace(base.model, context_len=400),
                               task_batch=4)


def paper() -> ExperimentConfig:
    """The paper's setting at 72x96: the pixel DQN source (16 actors, Q(lambda), replay 1e5) on
    its 4000 histories' platforms, the paper's transformer and image encoder; meant for an
    accelerator."""
    frames = _frames({})
    model = with_image_encoder(paper_model(frames, NUM_ACTIONS, context_len=200, layout="one"),
                               frames, "paper")
    train = quick_train(batch_size=128, num_steps=100_000, warmup_steps=5_000, log_every=500,
                        ckpt_every=5_000, steps_per_call=50, peak_lr=3e-4)
    return ExperimentConfig(
        train_seeds=5,
        name="watermaze", env="watermaze", source=dqn.Config(), model=model, train_ad=train,
        train_ed=train, num_train_tasks=250,  # x 16 actors = the paper's 4000 histories
        eval=grid_splits(num_episodes=EPISODES, num_seeds=20, other_seeds=5,
                         test_baselines=("random",), batch_size=256),
        expert_episodes=20, chunk_size=8,
    )


def tiny() -> ExperimentConfig:
    """Toy size for smoke tests and CI at 12x16 pixels: checks the plumbing, not the learning."""
    env_config = {"height": 12, "width": 16}
    source = a2c.Config(num_actors=2, num_updates=4, unroll=50, hidden=(16,))
    model = with_image_encoder(tiny_model(_frames(env_config), NUM_ACTIONS, context_len=100),
                               _frames(env_config), "cpu")
    return ExperimentConfig(
        name="watermaze", env="watermaze", env_config=tuple(env_config.items()), source=source,
        model=model, train_ad=tiny_train(), train_ed=tiny_train(), num_train_tasks=4,
        eval=grid_splits(num_episodes=3, num_seeds=2, num_tasks=2, other_seeds=1,
                         other_tasks=2, test_baselines=("random",), batch_size=4),
        expert_episodes=2, chunk_size=4,
        source_curves=(SourceCurve(1, 3 * 50, num_seeds=1, num_tasks=2, batch_size=2),),
    )


PRESETS = {"quick": quick, "tabular": tabular, "subsampled": subsampled, "streams": streams,
           "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("watermaze", PRESETS)
