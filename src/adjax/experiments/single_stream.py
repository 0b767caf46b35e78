"""Single-stream A2C on Key-to-Door (Laskin et al. 2023, Fig. 6): AD from one learner's stream.

    python -m adjax.experiments.single_stream --preset quick --out runs/single_stream

The source is A2C (the paper's A3C, run synchronously) with a single actor per task, one history
per task with every 10th episode kept, on many training tasks. The paper's claim: AD trained on
these subsampled histories reaches, after 10k test-time env steps, a return (1.70) the single
stream source from scratch has not reached (1.35) after 50k. The source's curve is measured on
the same env-step axis (`adjax.experiments.common.SourceCurve`), with one actor.
"""

from adjax.experiments.command import cli
from adjax.experiments.common import (
    ExperimentConfig,
    SourceCurve,
    grid_splits,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.model import cpu_model, paper_model
from adjax.sources import a2c
from adjax.train import TrainConfig

ENV = "key-to-door"


def quick() -> ExperimentConfig:
    """The 2-core CPU preset: A2C with 1 actor, lr 3e-4, one update per 50-step episode, 2000
    episodes per task on 1024 training tasks (the paper: 2048), every 10th episode kept (200 per
    history); the Key-to-Door quick model and optimisation, as chosen there on validation pairs
    (context 200 steps = 4 kept episodes, windows starting at any step with episode starts
    marked, 3000 steps of 64 windows for AD and ED); 200 evaluation episodes (10k env steps) on
    100 held-out tasks; the source from scratch with one actor for 50k env steps on the same
    tasks. The learners run 4 tasks at a time on each CPU device (`task_batch`: ~3.2x faster
    than all of a chunk at once, the same bits). What was tried:
    experiments/single_stream/NOTES.md."""
    source = a2c.Config(num_actors=1, num_updates=2000, unroll=50, lr=3e-4)
    model = cpu_model((9, 9), 5, context_len=200, layout="one", attn_dropout=0.0,
                      token_mask_prob=0.0, obs_encoder="factored", episode_marker=True)
    train = quick_train(num_steps=3000, batch_size=64, peak_lr=1e-3)
    return ExperimentConfig(
        train_seeds=3,
        name="single_stream", env=ENV, source=source, model=model, train_ad=train,
        train_ed=train, subsample_every=10, num_train_tasks=1024,
        eval=grid_splits(num_episodes=200, num_seeds=20, other_seeds=5, num_tasks=100,
                         other_episodes=100, other_tasks=50,
                         test_baselines=("random", "optimal")),
        source_curves=(SourceCurve(1, 50_000, num_seeds=5, num_tasks=100, batch_size=100),),
        expert_episodes=8, chunk_size=256, task_batch=4,
    )


def paper() -> ExperimentConfig:
    """The paper's scale: 2048 tasks x 2000 episodes of one actor, every 10th kept, the paper's
    model and optimisation; meant for an accelerator."""
    source = a2c.Config(num_actors=1, num_updates=2000, unroll=50)
    model = paper_model((9, 9), 5, context_len=200, layout="one")
    train = TrainConfig(batch_size=128, num_steps=100_000, warmup_steps=5_000, log_every=500,
                        ckpt_every=5_000, steps_per_call=50)
    return ExperimentConfig(
        train_seeds=5,
        name="single_stream", env=ENV, source=source, model=model, train_ad=train,
        train_ed=train, subsample_every=10, num_train_tasks=2048,
        eval=grid_splits(num_episodes=1000, num_seeds=20, other_seeds=5, num_tasks=200,
                         other_tasks=200, batch_size=1024, test_baselines=("random", "optimal")),
        source_curves=(SourceCurve(1, 50_000, num_seeds=5, num_tasks=200, batch_size=200),),
        expert_episodes=100, chunk_size=256,
    )


def tiny() -> ExperimentConfig:
    """Toy size for smoke tests and CI: checks the plumbing, not the learning."""
    source = a2c.Config(num_actors=1, num_updates=20, unroll=50, hidden=(8,), lr=1e-3)
    model = tiny_model((9, 9), 5, context_len=100, obs_encoder="factored")
    train = tiny_train()
    return ExperimentConfig(
        name="single_stream", env=ENV, source=source, model=model, train_ad=train,
        train_ed=train, subsample_every=10, num_train_tasks=8,
        # every split 4 tasks x 2 seeds, one chunk of 8 pairs: one compiled evaluation each
        eval=grid_splits(num_episodes=3, num_seeds=2, other_seeds=2, num_tasks=4, other_tasks=4,
                         batch_size=8, test_baselines=("random", "optimal")),
        source_curves=(SourceCurve(1, 500, num_seeds=2, num_tasks=4, batch_size=8),),
        expert_episodes=2, chunk_size=8, task_batch=2,
    )


PRESETS = {"quick": quick, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("single_stream", PRESETS)
