"""Train AD on the quick run's Watermaze histories with some of the quick preset's training
settings changed, into its own run directory (resumable: the same command continues from the
last checkpoint), for a choice made on validation platforms before the preset changes.

    PYTHONPATH=src python experiments/watermaze/train_variant.py --out runs/watermaze_b32/ad/seed0 \
        --set batch_size=32 --set num_steps=4500
    python -m adjax.evaluate runs/watermaze_b32/ad/seed0 --split val --tasks 8 --seeds 5 \
        --episodes 160 --baselines random
"""

import argparse

from adjax import data
from adjax.devices import use_cpu_cores
from adjax.experiments import sweep, watermaze
from adjax.train import fit



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="runs/watermaze/data/learning")
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[], help="TrainConfig field=value")
    args = ap.parse_args()
    cfg = watermaze.quick()
    train = sweep.apply(cfg.train_ad, args.set)
    fit(train, cfg.model, data.load(args.data, env=cfg.env, quiet=True), args.out)


if __name__ == "__main__":
    use_cpu_cores()
    main()
