"""Dark Room end to end (Laskin et al. 2023, Fig. 4): histories -> AD and ED -> held-out goals.

    python -m adjax.experiments.darkroom --preset quick --out runs/darkroom
"""


from adjax.experiments.common import (
    ExperimentConfig,
    SplitEval,
    grid_splits,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.experiments.runner import cli
from adjax.model import cpu_model, paper_model
from adjax.sources import a2c, qlearning
from adjax.train import TrainConfig


def quick(env: str = "darkroom") -> ExperimentConfig:
    """The 2-core CPU preset (about 10 minutes for one training seed with 200 evaluation
    episodes): optimistic tabular Q-learning with backward replay as the source (16 streams x 60
    episodes per training goal), the CPU-sized transformer with a factored observation encoder,
    a context of 80 steps (4 episodes), 1500 steps of 128 windows for AD and for ED. Evaluated
    over 1000 episodes on the held-out goals, 200 on the validation and training goals. What
    was tried: experiments/darkroom/NOTES.md."""
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


PRESETS = {"quick": quick, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("darkroom", PRESETS)
