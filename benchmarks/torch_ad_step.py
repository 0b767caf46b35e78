"""PyTorch reference for bench_train: one AD-shaped training step timed on the CPU.

The paper's AD transformer in PyTorch (embedding 64, 4 layers, 4 heads, feed-forward 2048,
post-norm, dropout 0.1, attention dropout 0.5, batch 128, Adam(0.9, 0.99), gradient clipping 1)
as `torch.nn.TransformerEncoder` with a causal mask, on random Dark-Room-sized inputs (81 cells,
5 actions, 0/1 rewards). One token per step: E_obs[o_t] + E_act[a_{t-1}] + w * r_{t-1}; three: the
action, reward and observation tokens of a step, the logits read at the observation's token.
One timed step = forward + backward + clipping + Adam + zero_grad, float32. The last line printed
is `tokens_per_s: N` (batch * tokens / median step seconds). Needs torch; bench_train skips this
comparison without it.

    python benchmarks/torch_ad_step.py --tokens 80 --tokens-per-step 1 --batch 128 --steps 4
"""

import argparse
import statistics
import time

import torch
from torch import nn

NUM_OBS, NUM_ACTIONS, D, LAYERS, HEADS, FF = 81, 5, 64, 4, 4, 2048


class ADModel(nn.Module):
    def __init__(self, tokens: int, tokens_per_step: int):
        super().__init__()
        self.tps = tokens_per_step
        self.obs = nn.Embedding(NUM_OBS, D)
        self.act = nn.Embedding(NUM_ACTIONS + 1, D)  # + "no previous action"
        self.rew = nn.Linear(1, D)
        self.pos = nn.Embedding(tokens, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.1, batch_first=True,
                                           norm_first=False)
        layer.self_attn.dropout = 0.5  # attention dropout, as the paper's
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.head = nn.Linear(D, NUM_ACTIONS)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(tokens))

    def forward(self, obs, prev_act, prev_rew):  # each [B, steps]
        o, a, r = self.obs(obs), self.act(prev_act), self.rew(prev_rew[..., None])
        if self.tps == 1:
            x = o + a + r
        else:  # [a, r, o] per step, interleaved
            x = torch.stack([a, r, o], dim=2).flatten(1, 2)
        x = x + self.pos.weight[None, : x.shape[1]]
        h = self.blocks(x, mask=self.mask[: x.shape[1], : x.shape[1]], is_causal=True)
        if self.tps == 3:
            h = h[:, 2::3]  # the observation token of each step
        return self.head(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=80)
    ap.add_argument("--tokens-per-step", type=int, choices=(1, 3), default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(0)
    steps = args.tokens // args.tokens_per_step
    model = ADModel(args.tokens, args.tokens_per_step)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(1)
    obs = torch.randint(0, NUM_OBS, (args.batch, steps), generator=g)
    act = torch.randint(0, NUM_ACTIONS, (args.batch, steps), generator=g)
    prev_act = torch.cat([torch.full((args.batch, 1), NUM_ACTIONS), act[:, :-1]], 1)
    prev_rew = torch.randint(0, 2, (args.batch, steps), generator=g).float()
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        logits = model(obs, prev_act, prev_rew)
        loss = loss_fn(logits.reshape(-1, NUM_ACTIONS), act.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    print(f"threads: {torch.get_num_threads()}, step: {step_s:.4f} s, loss {loss.item():.3f}")
    print(f"tokens_per_s: {args.batch * args.tokens / step_s:.1f}")


if __name__ == "__main__":
    main()
