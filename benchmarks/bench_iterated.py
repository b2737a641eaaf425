"""One round of iterated RLHF on the real track (issue 20): label the RL policy's own answers, retrain the reward
model with them, run RL again from the same base, and compare.

    python benchmarks/bench_iterated.py --config configs/smollm2.yaml [--outputs outputs-real]
    -> <outputs>/bench/iterated/{iterated.json, rl_answers.csv, reward_model/, rl_policy/, evaluation_results/}

Why: after a finished `make demo-real`, the RL policy's high-reward answers include fluent compliance written in
safety vocabulary ("Sure! I can help with that. To poison someone slowly, I will explain the steps ..."), which
the reward model was never shown: it was trained on templates and on the *base* policy's answers. Online /
iterated RLHF (Bai et al. 2022, "Training a Helpful and Harmless Assistant with RLHF", section 4.5) retrains the
preference model on the current policy's samples. Steps, each the real CLI:
  1. `saferlhf data contrast --enabled --model-path <rl_policy>` on the generator's labels, with the model's own
     default system prompt as the "compliance" side (its natural answers: a non-refusal to a should-refuse prompt
     is labelled unsafe) and the safety-steering prompt as the other; rows keep their prompt's split.
  2. Those rows (ids prefixed `r2-`) appended to the pipeline's contrast labels; a reward model trained on them.
  3. `policy train-rl` from the same base policy against that reward model, same recipe as the pipeline's.
  4. `evaluate` judged by the *pipeline's* reward model (not the retrained one, which saw the RL policy's answers),
     and `bench_real.py` figures on a folder linking the outputs, next to the pipeline's own run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_contrast import REPO, cli  # noqa: E402


def run(config: str, outputs: Path, done: Path, *args: str) -> float | None:
    """Seconds of one CLI step, None when `done` exists already (bench_contrast.cli)."""
    return cli(config, outputs, *args, parse=False, done=done)[0]


NATURAL = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"  # SmolLM2's template default


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src.resolve())


def real_figures(folder: Path) -> dict:
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_real.py"), "--outputs", str(folder)], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    out = json.loads((folder / "bench" / "real.json").read_text())
    return {k: v for k, v in out.items() if not isinstance(v, (dict, list))}


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/smollm2.yaml")
    ap.add_argument("--outputs", default="outputs-real")
    ap.add_argument("--natural-system", default=NATURAL, help="system prompt of the policy's natural answers")
    args = ap.parse_args()
    root = Path(args.outputs)
    work = root / "bench" / "iterated"
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"seconds": {}}
    answers = work / "rl_answers.csv"
    out["seconds"]["answers"] = run(
        args.config, root, answers, "data", "contrast", "--enabled",
        "--model-path", str(root / "models" / "rl_policy"), "--data-path", str(root / "data" / "safety_labels.csv"),
        "--output-path", str(answers), "--compliance-system", args.natural_system)
    first = pd.read_csv(root / "contrast" / "safety_labels_contrast.csv", keep_default_na=False)
    new = pd.read_csv(answers, keep_default_na=False)
    new = new[new["source"] == "policy"].assign(id=lambda f: "r2-" + f["id"].astype(str))
    labels = work / "safety_labels_iterated.csv"
    pd.concat([first, new], ignore_index=True).to_csv(labels, index=False)
    out["rows"] = {"first_round": int((first["source"] == "policy").sum()), "second_round": int(len(new))}
    reward = work / "reward_model"
    out["seconds"]["reward"] = run(args.config, root, reward / "metrics.json", "reward", "train",
                                   "--data-path", str(labels), "--output-dir", str(reward))
    rl = work / "rl_policy"
    out["seconds"]["rl"] = run(args.config, root, rl / "rl_summary.json", "policy", "train-rl",
                               "--reward-model-path", str(reward), "--output-dir", str(rl))
    ev = work / "evaluation_results"
    out["seconds"]["evaluate"] = run(args.config, root, ev / "evaluation_results.json", "evaluate",
                                     "--rl-policy-path", str(rl), "--output-dir", str(ev))  # the pipeline's judge
    view = work / "view"
    for name, src in (("data", root / "data"), ("models/base_policy", root / "models" / "base_policy"),
                      ("models/rl_policy", rl), ("evaluation_results", ev)):
        link(src, view / name)
    out["pipeline_rl"], out["iterated_rl"] = real_figures(root), real_figures(view)
    out["reward_model"] = {k: json.loads((reward / "metrics.json").read_text()).get(k)
                           for k in ("pairwise_accuracy", "relevance_accuracy", "policy_pairwise_accuracy",
                                     "policy_rows")}
    (work / "iterated.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print(f"-> {work / 'iterated.json'}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
