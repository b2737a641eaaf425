"""The reward model on the policy's own answers (issue 20, deliverable 4), before and after training on them:

    python benchmarks/bench_contrast.py --config configs/smollm2.yaml [--outputs outputs-real]
    -> <outputs>/bench/contrast.json

Steps, each the real CLI on a finished `make demo-real` (or any outputs folder with a chat-template base policy):
  1. `saferlhf data contrast --enabled`: the base policy answers the dataset's should-refuse and benign prompts
     under a safety- and a compliance-steering system prompt; answers the refusal detector agrees with become
     labelled rows (saferlhf.data.contrast) in contrast/safety_labels_contrast.csv, each in its prompt's split
     (the pipeline's contrast-data step, when `contrast.enabled`).
  2. before: a reward model trained on the template rows only (data/safety_labels.csv), evaluated on that file:
     the test split's policy rows are figures on held-out real-model answers.
  3. after: a reward model trained on that file (train split: template + policy rows), evaluated the same way.
Both go to <outputs>/bench/, so the pipeline's own reward model stays as it was.
Figures: policy_pairwise_accuracy (refusal above compliance, should-refuse prompts), policy_helpful_accuracy
(answer above over-refusal, benign prompts), policy_relevance_accuracy (own answer above another category's),
and the template figures next to them. Few held-out prompts get *both* of their answers kept (each steering is kept
only where the refusal detector agrees), so the script also ranks across prompts: the share of (safe, unsafe)
pairs of held-out policy rows, over all should-refuse prompts, in which the safe one gets the higher reward
(ROC AUC), the same for (answer, over-refusal) of benign prompts, and per-row accuracy of the unsafe rule
(safety < 0.5 exactly for the rows labelled unsafe). `--score-only` recomputes these from the saved models."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("pairwise_accuracy", "relevance_accuracy", "policy_rows", "policy_pairwise_accuracy", "policy_pairwise_pairs",
        "policy_helpful_accuracy", "policy_helpful_pairs", "policy_relevance_accuracy", "policy_relevance_pairs",
        "mae_max")


def cli(config: str, outputs: Path, *args: str, parse: bool = True,
        done: Path | None = None) -> tuple[float | None, dict | None]:
    """(seconds, the result the command printed) of one `saferlhf` command. `parse=False`: its stdout is not read
    (TRL prints its logs there), the result is None. `done` exists already: (None, None) without running (a rerun
    after an interruption reuses the finished steps)."""
    if done is not None and done.exists():
        print(f"(reusing {done})", flush=True)
        return None, None
    start = time.time()
    cmd = [sys.executable, "-m", "saferlhf.cli", "--config", config, "--output-root", str(outputs), *args]
    print("$ saferlhf", " ".join(cmd[3:]), flush=True)
    r = subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.PIPE if parse else subprocess.DEVNULL, text=True)
    return round(time.time() - start, 1), json.loads(r.stdout) if parse else None


def metrics(model_dir: Path) -> dict:
    m = json.loads((model_dir / "metrics.json").read_text())
    return {k: m.get(k) for k in KEYS}


def ranking(model_dir: Path, rows) -> dict:
    """Cross-prompt figures of one reward model on held-out policy rows (pandas frame of the contrast CSV)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from saferlhf.reward.model import RewardScorer

    scorer = RewardScorer(model_dir)
    scores = scorer.scores(rows["prompt"].tolist(), rows["response"].tolist())
    reward = scorer.reward(rows["prompt"].tolist(), rows["response"].tolist())
    kind = rows["response_type"].to_numpy()

    def auc(better: str, worse: str, mask) -> dict:
        hi, lo = reward[(kind == better) & mask], reward[(kind == worse) & mask]
        if not len(hi) or not len(lo):
            return {"auc": None, "pairs": 0}
        wins = (hi[:, None] > lo[None, :]).mean() + 0.5 * (hi[:, None] == lo[None, :]).mean()
        return {"auc": round(float(wins), 3), "pairs": int(len(hi) * len(lo)), "n": [int(len(hi)), int(len(lo))]}

    from saferlhf.refusal import SHOULD_REFUSE

    refuse = rows["category"].isin(SHOULD_REFUSE).to_numpy()
    unsafe_rule = scores[:, 0] < 0.5
    return {"refusal_above_compliance": auc("safe", "unsafe", refuse),
            "answer_above_over_refusal": auc("safe", "over_refusal", ~refuse),
            "unsafe_rule_accuracy_should_refuse": round(float((unsafe_rule[refuse] == (kind[refuse] == "unsafe"))
                                                              .mean()), 3),
            "rows": int(len(rows))}


def score_only(root: Path, out: dict) -> dict:
    import pandas as pd

    labels = pd.read_csv(root / "contrast" / "safety_labels_contrast.csv", keep_default_na=False)
    held_out = labels[(labels["source"] == "policy") & (labels["split"] == "test")]
    for name, folder in (("before", "reward_model_before_contrast"), ("after", "reward_model_with_contrast")):
        out.setdefault("ranking", {})[name] = ranking(root / "bench" / folder, held_out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/smollm2.yaml")
    ap.add_argument("--outputs", default="outputs-real")
    ap.add_argument("--max-prompts-per-split", type=int, default=None)
    ap.add_argument("--score-only", action="store_true", help="only the cross-prompt figures of the saved models")
    args = ap.parse_args()
    root = Path(args.outputs)
    if args.score_only:
        path = root / "bench" / "contrast.json"
        out = score_only(root, json.loads(path.read_text()) if path.is_file() else {})
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out["ranking"], indent=2))
        return
    labels = root / "contrast" / "safety_labels_contrast.csv"
    out: dict = {"seconds": {}}
    extra = ["--max-prompts-per-split", str(args.max_prompts_per_split)] if args.max_prompts_per_split else []
    out["seconds"]["contrast"], out["contrast"] = cli(args.config, root, "data", "contrast", "--enabled", *extra)
    before = root / "bench" / "reward_model_before_contrast"
    out["seconds"]["train_before"], _ = cli(args.config, root, "reward", "train", "--output-dir", str(before),
                                         "--data-path", str(root / "data" / "safety_labels.csv"))
    out["seconds"]["evaluate_before"], _ = cli(args.config, root, "reward", "evaluate", "--output-dir", str(before),
                                            "--data-path", str(labels))
    after = root / "bench" / "reward_model_with_contrast"
    out["seconds"]["train_after"], _ = cli(args.config, root, "reward", "train", "--output-dir", str(after),
                                        "--data-path", str(labels))
    out["before"], out["after"] = metrics(before), metrics(after)
    score_only(root, out)
    (root / "bench").mkdir(parents=True, exist_ok=True)
    (root / "bench" / "contrast.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print(f"-> {root / 'bench' / 'contrast.json'}")


if __name__ == "__main__":
    main()
