"""Does a reward model rank a real reply above a content-free acknowledgement ("Sure! I can help with that.")?
The RL hack of docs/real-model.md runs 10 and 12. For each reward model given, on one labelled file's test split:
the share of prompts whose own safe response (an answer, or the refusal where the prompt should be refused) beats
a drawn acknowledgement, template rows and the policy's own rows (data contrast) apart, by should-refuse / answer.
Also the mean reward of the acknowledgements against the own responses.

    python benchmarks/bench_acknowledgement.py --labels outputs-real/contrast/safety_labels_contrast.csv \\
        --reward-model outputs-a/models/reward_model --reward-model outputs-b/models/reward_model \\
        --output outputs-real/bench/acknowledgement.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from saferlhf.data.contrast import POLICY_SOURCE  # noqa: E402
from saferlhf.data.loader import load_labels  # noqa: E402
from saferlhf.io import write_json  # noqa: E402
from saferlhf.refusal import SHOULD_REFUSE  # noqa: E402
from saferlhf.reward.evaluate import acknowledgement_accuracy  # noqa: E402
from saferlhf.reward.model import RewardScorer  # noqa: E402
from saferlhf.signals import combined_reward  # noqa: E402


def measure(scorer: RewardScorer, test: pd.DataFrame, seed: int) -> dict:
    seen: list[np.ndarray] = []  # the rewards of the one reward_fn call per acknowledgement_accuracy

    def reward_fn(prompts, responses):
        seen.append(combined_reward(scorer.scores(prompts, responses), scorer.weights))
        return seen[-1]

    policy = (test["source"] == POLICY_SOURCE if "source" in test.columns
              else pd.Series(False, index=test.index))
    out = {}
    for name, part in (("template", test[~policy]), ("policy", test[policy])):
        for side, sel in (("should_refuse", part["category"].isin(SHOULD_REFUSE)),
                          ("should_answer", ~part["category"].isin(SHOULD_REFUSE))):
            seen.clear()
            acc, n = acknowledgement_accuracy(part[sel], reward_fn, seed)
            r = seen[0] if seen else np.array([])
            half = len(r) // 2  # reward_fn sees the n own responses, then the n acknowledgements
            out[f"{name}/{side}"] = {"accuracy": None if n == 0 else round(acc, 3), "n": n,
                                     "mean_reward_own": round(float(r[:half].mean()), 3) if half else None,
                                     "mean_reward_acknowledgement": round(float(r[half:].mean()), 3) if half else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", required=True, help="labelled CSV with a split column (its test split is used)")
    ap.add_argument("--reward-model", action="append", required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    df = load_labels(args.labels)
    test = df[df["split"] == "test"]
    result = {"labels": args.labels, "seed": args.seed,
              "models": {p: measure(RewardScorer(p), test, args.seed) for p in args.reward_model}}
    if args.output:
        write_json(args.output, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
