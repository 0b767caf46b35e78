"""Perception probe: how well does an image encoder + MLP predict the late source's action from
one frame, on one platform at a time (the source's policy is platform-specific), against an MLP
on the true state (x, y, cos, sin)? Episodes 81-100 of the 16 streams of each platform: 12
streams to fit (1500 Adam steps of 256 frames), 4 held out.

    PYTHONPATH=src python experiments/watermaze/bc_probe.py 0,5,9   # training platforms

Reads the quick run's dataset (runs/watermaze/data/learning).
"""

import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from adjax import envs

D = "runs/watermaze/data/learning/"
obs = np.load(D + "obs_state.npy", mmap_mode="r")
acts = np.load(D + "actions.npy", mmap_mode="r")
platforms = [int(p) for p in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0]
steps = 1500


class Enc(nn.Module):
    chans: tuple
    pool: bool
    dense: int = 64
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, train):
        x = x.astype(jnp.float32) / 255.0
        for w in self.chans:
            x = nn.Conv(w, (3, 3), strides=2, padding="SAME")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = nn.relu(x)
            if self.pool:
                x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.relu(nn.Dense(self.dense)(x.reshape(x.shape[0], -1)))
        x = nn.relu(nn.Dense(64)(x))
        return nn.Dense(8)(x)


class StateMLP(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = jnp.stack([x[:, 0], x[:, 1], jnp.cos(x[:, 2]), jnp.sin(x[:, 2])], -1)
        for _ in range(2):
            x = nn.relu(nn.Dense(128)(x))
        return nn.Dense(8)(x)


def run(name, model, H, W):
    res = []
    for p in platforms:
        rows = np.arange(p * 16, p * 16 + 16)
        S = np.asarray(obs[rows, 80 * 50 :]).astype(np.float32)  # [16, 1000, 3]
        A = np.asarray(acts[rows, 80 * 50 :]).astype(np.int32)
        if H:
            env, _ = envs.make("watermaze", height=H, width=W)
            X = np.asarray(jax.jit(jax.vmap(jax.vmap(env.render_stored)))(jnp.asarray(S)))
        else:
            X = S
        Xtr, Atr = X[:12].reshape(-1, *X.shape[2:]), A[:12].reshape(-1)
        Xte, Ate = X[12:].reshape(-1, *X.shape[2:]), A[12:].reshape(-1)
        v = model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, Xtr[:2], True)
        tx = optax.adam(1e-3)
        params, stats = v["params"], {k: x for k, x in v.items() if k != "params"}
        opt = tx.init(params)

        @jax.jit
        def step(params, stats, opt, key):
            idx = jax.random.randint(key, (256,), 0, Xtr.shape[0])

            def loss(pp):
                if stats:
                    lg, st = model.apply(
                        {"params": pp, **stats},
                        jnp.asarray(Xtr)[idx],
                        True,
                        rngs={"dropout": key},
                        mutable=list(stats),
                    )
                else:
                    lg, st = model.apply({"params": pp}, jnp.asarray(Xtr)[idx], True), {}
                return optax.softmax_cross_entropy_with_integer_labels(
                    lg, jnp.asarray(Atr)[idx]
                ).mean(), st

            (l, st), g = jax.value_and_grad(loss, has_aux=True)(params)
            u, opt = tx.update(g, opt, params)
            return optax.apply_updates(params, u), dict(st) if stats else stats, opt, l

        t = time.time()
        key = jax.random.key(2)
        for i in range(steps):
            params, stats, opt, l = step(params, stats, opt, jax.random.fold_in(key, i))
        lg = model.apply({"params": params, **stats}, jnp.asarray(Xte), False)
        te = float(optax.softmax_cross_entropy_with_integer_labels(lg, jnp.asarray(Ate)).mean())
        lg = model.apply({"params": params, **stats}, jnp.asarray(Xtr), False)
        tr = float(optax.softmax_cross_entropy_with_integer_labels(lg, jnp.asarray(Atr)).mean())
        res.append((tr, te, time.time() - t))
    r = np.array(res)
    print(
        f"{name}: train loss {r[:, 0].mean():.3f} held-out streams loss {r[:, 1].mean():.3f} ({r[:, 2].sum():.0f} s)",
        flush=True,
    )


run("state MLP (x, y, cos, sin)", StateMLP(), 0, 0)
run("12x16 cpu encoder (16,32,32) pool dropout .2", Enc((16, 32, 32), True, dropout=0.2), 12, 16)
run("12x16 one stage 16, pool", Enc((16,), True), 12, 16)
run("12x16 two stages (16,32), no pool", Enc((16, 32), False), 12, 16)
run("24x32 cpu encoder (16,32,32) pool dropout .2", Enc((16, 32, 32), True, dropout=0.2), 24, 32)
run("24x32 two stages (16,32), pool", Enc((16, 32), True), 24, 32)
