"""Teacher-forced loss, accuracy and entropy of a trained Watermaze AD on windows of its own
training histories (32 of them), early and late in the source's learning: the last episode of
each window, which has the most context.

    PYTHONPATH=src python experiments/watermaze/tf_probe.py runs/watermaze/runs/ad/seed0
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs
from adjax.checkpoints import load_run
from adjax.model.models import make_model
from adjax.train.windows import DeviceData, action_loss, sample_window

run = sys.argv[1]
cfg, variables, _ = load_run(run)
model = make_model(cfg)
D = "runs/watermaze/data/learning/"
obs = np.load(D + "obs_state.npy", mmap_mode="r")
acts = np.load(D + "actions.npy", mmap_mode="r")
rews = np.load(D + "rewards.npy", mmap_mode="r")
env, params = envs.make("watermaze", height=12, width=16)
H = list(range(0, 3200, 100))[:32]  # 32 histories across platforms
data = DeviceData(
    obs=jnp.asarray(obs[H]),
    actions=jnp.asarray(acts[H]),
    rewards=jnp.asarray(rews[H], jnp.float32),
    render=jax.vmap(env.render_stored),
)
c = cfg.context_len


@jax.jit
def stats(s):
    b = jax.vmap(sample_window, (None, 0, None, None, None))(data, jnp.arange(len(H)), s, c, 8)
    x = b.inputs
    logits = model.apply(variables, x.obs, x.prev_action, x.prev_reward, train=False)
    if isinstance(logits, tuple):
        logits = logits[0]
    # only the last episode of the window (the steps with the most context)
    lg, tg = logits[:, -50:], b.targets[:, -50:]
    loss, acc = action_loss(lg, tg, 0.0)
    p = jax.nn.softmax(lg)
    ent = -(p * jnp.log(p + 1e-9)).sum(-1).mean()
    return loss, acc, ent


for ep in (0, 10, 30, 60, 97):
    l, a, e = stats(jnp.int32(ep * 50))
    print(
        f"window from episode {ep + 1}: loss {float(l):.3f} acc {float(a):.3f} model entropy {float(e):.3f}; source success in window {np.asarray(rews[H, ep * 50 : (ep + 3) * 50]).reshape(len(H), 3, 50).sum(-1).mean():.2f}",
        flush=True,
    )
