"""Adversarial bandit (Laskin et al. 2023, Fig. 3): UCB histories -> AD and ED -> odd/even/uniform.

    python -m adjax.experiments.bandit --preset quick --out runs/bandit

AD and ED are trained on UCB1 trials of the `train` distribution (odd arms favoured in 95% of
tasks) and evaluated on new tasks of three distributions: `odd` (the training distribution),
`even` (even arms favoured in 95%: adversarial to a model that memorised "pull odd arms") and
`uniform`. Scores are normalised per split as (return - random) / (UCB - random), each of random
and UCB run on the same tasks, over all pulls of a trial (docs/conventions.md). Choices are
made on the `val` split (the training distribution, its own key stream).
"""


from adjax import rl2
from adjax.experiments.command import cli
from adjax.experiments.common import (
    EvalConfig,
    ExperimentConfig,
    SplitEval,
    quick_train,
    tiny_model,
    tiny_train,
)
from adjax.model import cpu_model, paper_model
from adjax.sources import ucb
from adjax.train import TrainConfig

SPLITS = ("odd", "even", "uniform", "val")


def _eval(num_tasks: int, num_seeds: int, num_pulls: int, **kw) -> EvalConfig:
    """A trial fits the context (num_pulls <= context_len), so the context is never refreshed:
    one encode of the empty context, then every pull decoded from the KV cache."""
    return EvalConfig(splits=tuple(
        SplitEval(s, num_seeds, num_pulls, num_tasks, baselines=("random", "source"))
        for s in SPLITS), refresh_every=num_pulls, **kw)


def quick() -> ExperimentConfig:
    """The 2-core CPU preset: UCB1 trials of 100 pulls on 10,000 tasks of the training
    distribution, the CPU-sized transformer with a context of one whole trial, 1500 steps for AD
    and for ED; RL² (a 2 x 64 LSTM, 64 parallel trials, 4000 updates: 5.1M pulls); 100 new tasks
    x 20 seeds per split. What was tried: experiments/bandit/NOTES.md."""
    source = ucb.Config(num_pulls=100, c=1.0)
    model = cpu_model((1,), 10, context_len=100, layout="one", attn_dropout=0.0,
                      token_mask_prob=0.0)
    train = quick_train()
    return ExperimentConfig(
        train_seeds=3,
        name="bandit", env="bandit", source=source, model=model, train_ad=train,
        train_ed=train,
        eval=_eval(num_tasks=100, num_seeds=20, num_pulls=100),
        num_train_tasks=10_000, normalise=True, expert_episodes=100, chunk_size=2_000,
        rl2=rl2.preset("quick", "bandit"),
    )


def paper() -> ExperimentConfig:
    """The paper's model and optimiser (ff 2048, attention dropout 0.5, masking 0.3); meant for
    an accelerator."""
    source = ucb.Config(num_pulls=100, c=1.0)
    model = paper_model((1,), 10, context_len=100, layout="one")
    train = TrainConfig(batch_size=128, num_steps=50_000, warmup_steps=2_500, log_every=500,
                        ckpt_every=5_000, steps_per_call=50)
    return ExperimentConfig(
        train_seeds=5,
        name="bandit", env="bandit", source=source, model=model, train_ad=train,
        train_ed=train,
        eval=_eval(num_tasks=1_000, num_seeds=20, num_pulls=100, batch_size=1024),
        num_train_tasks=100_000, normalise=True, expert_episodes=100, chunk_size=10_000,
        rl2=rl2.preset("paper", "bandit"),
    )


def tiny() -> ExperimentConfig:
    """Toy size for smoke tests and CI: checks the plumbing, not the learning."""
    source = ucb.Config(num_pulls=20)
    model = tiny_model((1,), 10, context_len=20)
    train = tiny_train()
    return ExperimentConfig(
        name="bandit", env="bandit", source=source, model=model, train_ad=train, train_ed=train,
        eval=_eval(num_tasks=4, num_seeds=2, num_pulls=20, batch_size=8),
        num_train_tasks=16, normalise=True, expert_episodes=20, chunk_size=16,
        rl2=rl2.preset("tiny", "bandit"),
    )


PRESETS = {"quick": quick, "paper": paper, "tiny": tiny}


if __name__ == "__main__":
    cli("bandit", PRESETS)
