"""Does a trained Watermaze AD act like the late source when its context holds that source's own
late episodes? 10 episodes in context on training platforms 0-7 (stream 0 of each), 5 seeds,
with no prompt, a prompt of the history's episodes 1-2, and of its episodes 99-100.

    PYTHONPATH=src python experiments/watermaze/prompt_probe.py runs/watermaze/runs/ad/seed0

Reads the quick run's dataset (runs/watermaze/data/learning, 12x16 frames).
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from adjax import envs
from adjax.evaluate import in_context, load_agent
from adjax.evaluate.loop import Prompt

run = sys.argv[1]
ds = np.load("runs/watermaze/data/learning/obs_state.npy", mmap_mode="r")
acts = np.load("runs/watermaze/data/learning/actions.npy", mmap_mode="r")
rews = np.load("runs/watermaze/data/learning/rewards.npy", mmap_mode="r")
task_index = np.load("runs/watermaze/data/learning/task_index.npy")
tasks = np.load("runs/watermaze/data/learning/tasks.npy")
print(ds.shape, acts.shape, task_index.shape, tasks.shape)
env, params = envs.make("watermaze", height=12, width=16)
agent = load_agent(run)
L = 50
render = jax.jit(jax.vmap(env.render_stored))
results = {}
for label, eps in (("none", None), ("episodes 1-2", (0, 2)), ("episodes 99-100", (98, 100))):
    rets = []
    for h in range(0, 16 * 8, 16):  # stream 0 of training platforms 0..7
        task = tasks[task_index[h]]
        p = env.with_task(params, jnp.asarray(task))
        prompt = None
        if eps is not None:
            sl = slice(eps[0] * L, eps[1] * L)
            prompt = Prompt(
                obs=render(jnp.asarray(ds[h, sl])),
                actions=jnp.asarray(acts[h, sl], jnp.int32),
                rewards=jnp.asarray(rews[h, sl], jnp.float32),
            )
        keys = jax.random.split(jax.random.key(h), 5)
        r = jax.vmap(lambda k: in_context(k, agent, env, p, 10, prompt=prompt))(keys)
        rets.append(np.asarray(r))
    rets = np.stack(rets)  # [8, 5, 10]
    src = None
    print(
        label,
        "AD return per episode (8 platforms x 5 seeds):",
        rets.mean((0, 1)).round(2),
        "mean",
        rets.mean().round(3),
        flush=True,
    )
# the source's own success at those episodes on those histories
r = np.asarray(rews[0 : 16 * 8 : 16]).reshape(8, -1, L).sum(-1)
print(
    "source stream 0, episodes 1-10:",
    r[:, :10].mean().round(3),
    "episodes 91-100:",
    r[:, 90:].mean().round(3),
)
