"""Dark Room end to end (Laskin et al. 2023, Fig. 4): histories -> AD and ED -> held-out goals.

    python -m adjax.experiments.darkroom --preset quick --out runs/darkroom
"""


from adjax.experiments.command import cli
from adjax.experiments.common import (
    ExperimentConfig,
    SourceCurve,
    SplitEval,
    grid_splits,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.model import cpu_model, paper_model
from adjax.sources import a2c, qlearning
from adjax.train import TrainConfig


def quick(env: str = "darkroom") -> ExperimentConfig:
    """The 2-core CPU preset: optimistic tabular Q-learning with backward replay as the source
    (16 streams x 60 episodes per training goal), the CPU-sized transformer with a factored
    observation encoder, a context of 80 steps (4 episodes), 1500 steps of 128 windows for AD
    and for ED. Evaluated over 1000 episodes on the held-out goals, 200 on the validation and
    training goals. Its measured cost and what was tried: experiments/darkroom/NOTES.md."""
    source = qlearning.Config(num_episodes=60, num_streams=16, lr=1.0, gamma=0.9,
                              eps_start=0.05, eps_end=0.05, q_init=1.0, backward_replay=True,
                              expert_eps=0.05)
    model = cpu_model((9, 9), 5, context_len=80, layout="one", attn_dropout=0.1,
                      obs_encoder="factored")
    train = quick_train()
    return ExperimentConfig(
        train_seeds=3,
        name="darkroom", env=env, source=source, model=model, train_ad=train,
        train_ed=train,
        eval=grid_splits(num_episodes=1000, num_seeds=20, other_seeds=5, other_episodes=200,
                         refresh_check=SplitEval("test", num_seeds=5, num_episodes=200)),
        expert_episodes=50, chunk_size=65,
    )


def a3c(env: str = "darkroom") -> ExperimentConfig:
    """The paper's source on a 2-core CPU: A2C (synchronous A3C, the paper's network) with 100
    actors per training goal, each actor's stream its own history, lr 1e-3 (the paper's 1e-4 is
    still far from the goal after 1000 episodes), 1000 updates of one 20-step episode, every 10th
    episode kept (the paper's Fig. 6 subsampling): 100 kept episodes per history, whose return
    rises gradually. The CPU-sized transformer with a context of 160 steps (8 kept episodes, so
    one window spans 80 source episodes of improvement), no input masking, peak lr 1e-3, 4500
    steps of 64 windows for AD and for ED. Its source baseline is A2C from scratch on the
    held-out goals on the env-step axis, with 100 actors and with one. The learners run one
    task at a time on each CPU device (`task_batch`: ~1.4x faster than all at once, the same
    bits; set it to None on an accelerator). What was tried:
    experiments/a3c/darkroom/NOTES.md."""
    source = a2c.Config(lr=1e-3, num_actors=100, num_updates=1000, unroll=20)
    model = cpu_model((9, 9), 5, context_len=160, layout="one", attn_dropout=0.1,
                      obs_encoder="factored", token_mask_prob=0.0)
    train = quick_train(batch_size=64, num_steps=4500, warmup_steps=450, peak_lr=1e-3,
                        ckpt_every=500)
    return ExperimentConfig(
        train_seeds=3,
        name="darkroom", env=env, source=source, model=model, train_ad=train,
        train_ed=train, subsample_every=10,
        eval=grid_splits(num_episodes=1000, num_seeds=20, other_seeds=5, other_episodes=200,
                         other_tasks=16, test_baselines=("random", "optimal")),
        expert_episodes=50, chunk_size=19, task_batch=1,
        source_curves=(SourceCurve(100, 1_000_000, num_seeds=3),
                       SourceCurve(1, 100_000, num_seeds=5, batch_size=80)),
    )


def paper(env: str = "darkroom") -> ExperimentConfig:
    """The paper's hyperparameters (A3C source with 100 actors, ff 2048, 1000 eval episodes);
    meant for an accelerator."""
    source = a2c.Config()
    model = paper_model((9, 9), 5, context_len=80, layout="one")
    train = TrainConfig(batch_size=128, num_steps=100_000, warmup_steps=5_000,
                        log_every=500, ckpt_every=5_000, steps_per_call=50)
    return ExperimentConfig(
        train_seeds=5,
        name="darkroom", env=env, source=source, model=model, train_ad=train,
        train_ed=train,
        eval=grid_splits(num_episodes=1000, num_seeds=20, other_seeds=5,
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
        eval=grid_splits(num_episodes=4, num_seeds=2, other_seeds=1, batch_size=8,
                         refresh_check=SplitEval("test", num_seeds=1, num_episodes=2)),
        expert_episodes=2, chunk_size=65,
    )


PRESETS = {"quick": quick, "a3c": a3c, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("darkroom", PRESETS)
