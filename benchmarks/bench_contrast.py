"""The reward model on the policy's own answers (issue 20, deliverable 4), before and after training on them:

    python benchmarks/bench_contrast.py --config configs/smollm2.yaml [--outputs outputs-real]
    -> <outputs>/bench/contrast.json

Steps, each the real CLI on a finished `make demo-real` (or any outputs folder with a chat-template base policy):
  1. `saferlhf data contrast`: the base policy answers the dataset's should-refuse and benign prompts under a
     safety- and a compliance-steering system prompt; answers the refusal detector agrees with become labelled
     rows (saferlhf.data.contrast) in data/safety_labels_contrast.csv, each in its prompt's split.
  2. before: the pipeline's reward model (trained on template rows only), evaluated on that file (a copy of the
     model, so the pipeline's metrics.json stays as it was): the test split's policy rows are figures on held-out
     real-model answers.
  3. after: a reward model trained on that file (train split: template + policy rows), evaluated the same way.
Figures: policy_pairwise_accuracy (refusal above compliance, should-refuse prompts), policy_helpful_accuracy
(answer above over-refusal, benign prompts), policy_relevance_accuracy (own answer above another category's),
and the template figures next to them."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("pairwise_accuracy", "relevance_accuracy", "policy_rows", "policy_pairwise_accuracy", "policy_pairwise_pairs",
        "policy_helpful_accuracy", "policy_helpful_pairs", "policy_relevance_accuracy", "policy_relevance_pairs",
        "mae_max")


def cli(config: str, outputs: Path, *args: str) -> tuple[float, dict]:
    """(seconds, the result the command printed)."""
    start = time.time()
    cmd = [sys.executable, "-m", "saferlhf.cli", "--config", config, "--output-root", str(outputs), *args]
    print("$ saferlhf", " ".join(cmd[3:]), flush=True)
    r = subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.PIPE, text=True)
    return round(time.time() - start, 1), json.loads(r.stdout)


def metrics(model_dir: Path) -> dict:
    m = json.loads((model_dir / "metrics.json").read_text())
    return {k: m.get(k) for k in KEYS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/smollm2.yaml")
    ap.add_argument("--outputs", default="outputs-real")
    ap.add_argument("--max-prompts-per-split", type=int, default=None)
    args = ap.parse_args()
    root = Path(args.outputs)
    labels = root / "data" / "safety_labels_contrast.csv"
    out: dict = {"seconds": {}}
    extra = ["--max-prompts-per-split", str(args.max_prompts_per_split)] if args.max_prompts_per_split else []
    out["seconds"]["contrast"], out["contrast"] = cli(args.config, root, "data", "contrast", *extra)
    before = root / "bench" / "reward_model_before_contrast"
    shutil.rmtree(before, ignore_errors=True)
    shutil.copytree(root / "models" / "reward_model", before)
    out["seconds"]["evaluate_before"], _ = cli(args.config, root, "reward", "evaluate", "--output-dir", str(before),
                                            "--data-path", str(labels))
    after = root / "bench" / "reward_model_with_contrast"
    out["seconds"]["train_after"], _ = cli(args.config, root, "reward", "train", "--output-dir", str(after),
                                        "--data-path", str(labels))
    out["before"], out["after"] = metrics(before), metrics(after)
    (root / "bench").mkdir(parents=True, exist_ok=True)
    (root / "bench" / "contrast.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print(f"-> {root / 'bench' / 'contrast.json'}")


if __name__ == "__main__":
    main()
