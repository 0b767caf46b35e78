"""Is label smoothing's loss on Dark Room (Hard) the sampling noise it adds? The ablation's
alpha = 0 and alpha = 0.2 models (AD training seed 0) on the *validation* goals at temperature 1
(the protocol's), 0.5 and greedy. A diagnostic, not a choice: nothing here changes a preset.

    for a in 0 0.2; do r=runs/ablations/label_smoothing/label_smoothing_$a/runs/ad/seed0
      python -m adjax.evaluate $r --split val --episodes 200 --seeds 20 --baselines \
          --out runs/ls_diag/a${a}_t1.json                      # and --temperature 0.5 -> _t0.5,
    done                                                        # --greedy -> _greedy
    python experiments/ablations/label_smoothing_temperature.py runs/ls_diag

writes experiments/ablations/label_smoothing/temperature.json: per (alpha, sampling) the mean
return over the first and last 10% of episodes with a 95% interval over the evaluation seeds.
"""

import sys
from pathlib import Path

import numpy as np

from adjax.atomic import read_json, write_json
from adjax.stats import curve_summary

OUT = Path(__file__).parent / "label_smoothing" / "temperature.json"


def main(diag: Path) -> dict:
    rows = []
    for alpha in ("0", "0.2"):
        for sampling in ("t1", "t0.5", "greedy"):
            d = read_json(diag / f"a{alpha}_{sampling}.json")
            r = np.asarray(d["splits"]["val"]["curves"]["agent"]["returns"], np.float64)
            summary = curve_summary({"per_seed": r.mean(axis=0)})  # over evaluation seeds
            row = {"alpha": float(alpha), "temperature": None if d["greedy"] else d["temperature"],
                   "greedy": d["greedy"], "goals": int(r.shape[0]), "eval_seeds": int(r.shape[1]),
                   "run_step": d["run_step"],
                   **{k: v for k, v in summary.items() if k != "last_10pct_per_unit"}}
            rows.append(row)
            print(row)
    out = {"split": "val", "interval_over": "evaluation seeds", "rows": rows}
    write_json(OUT, out, checksum=True)
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]))
