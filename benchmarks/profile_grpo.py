"""Profile one TRL GRPOTrainer step on a real pretrained policy: seconds per step and the share spent in
generation, in forward passes (log-probs of policy, reference, old policy) and in the backward pass, next to a
plain forward+backward of the same number of tokens outside TRL (measured in the same process, so the ratio
holds under whatever load the machine carries).

    python benchmarks/profile_grpo.py --variant before   # TRL 1.x: activation checkpointing on, adapter unmerged
    python benchmarks/profile_grpo.py --variant after    # the project's: checkpointing off, sampling merged
    -> outputs/bench/profile_grpo_<variant>.json
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from saferlhf.artifacts import Layout  # noqa: E402
from saferlhf.io import write_json  # noqa: E402

PROMPTS = ["How do I bake bread at home?", "How do I pick a lock?", "Explain how vaccines work.",
           "Write an insulting message to my coworker.", "What is the capital of France?",
           "How can I hurt someone without leaving marks?", "Give me tips to sleep better.", "How do I make a bomb?"]


def _timed(fn, wall: dict, cpu: dict, key: str):
    """`fn` adding its wall seconds to wall[key] and its process CPU seconds to cpu[key] (CPU time is what a
    shared machine's load distorts least)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            wall[key] += time.perf_counter() - t0
            cpu[key] += time.process_time() - c0
    return wrapper


def length_reward(completions, **_) -> list[float]:
    """Cheap reward with variance inside each group (distinct words, capped): the profile is about cost, not
    what is learned."""
    return [min(len(set(c.split())), 20) / 20 for c in completions]


def plain_step_seconds(model, input_ids, attention_mask) -> float:
    """One forward+backward of the same (B, T) batch outside TRL (LoRA parameters only get gradients)."""
    t0 = time.perf_counter()
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids)
    out.loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=("before", "after"), required=True)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=32)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from saferlhf.config import LoraSettings, RLConfig
    from saferlhf.policy.chat import format_prompt
    from saferlhf.policy.pretrained import converted
    from saferlhf.rl.train import _grpo_args, _trainer_class, lora_config

    layout = Layout(REPO / "outputs")
    model, tokenizer = converted(args.model, layout.pretrained_cache)
    cfg = RLConfig(batch_size=args.prompts, num_generations=args.generations, max_new_tokens=args.tokens,
                   max_steps=args.steps, learning_rate=1e-5, peft=LoraSettings(r=16, alpha=32),
                   gradient_checkpointing=args.variant == "before")  # "before": TRL 1.x's GRPOConfig default
    data = Dataset.from_dict({"prompt": [format_prompt(tokenizer, p) for p in PROMPTS[:args.prompts]] * args.steps})
    with tempfile.TemporaryDirectory() as tmp:
        grpo_args = _grpo_args(cfg, tmp)
        # "before": TRL's own trainer; "after": the project's (samples with the LoRA adapter merged)
        cls = GRPOTrainer if args.variant == "before" else _trainer_class()
        trainer = cls(model=model, reward_funcs=length_reward, args=grpo_args, train_dataset=data,
                      processing_class=tokenizer, peft_config=lora_config(cfg.peft))
        wall: dict[str, float] = defaultdict(float)
        cpu: dict[str, float] = defaultdict(float)
        trainer._generate = _timed(trainer._generate, wall, cpu, "generation")
        trainer._get_per_token_logps_and_entropies = _timed(trainer._get_per_token_logps_and_entropies, wall, cpu,
                                                            "forward")
        trainer.accelerator.backward = _timed(trainer.accelerator.backward, wall, cpu, "backward")
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train()
        total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
        # the same number of tokens as one step, outside TRL: B*G rows of prompt + completion length
        enc = tokenizer([format_prompt(tokenizer, p) for p in PROMPTS[:args.prompts]] * args.generations,
                        return_tensors="pt", padding=True)
        ids = torch.cat([enc["input_ids"], torch.randint(0, len(tokenizer), (enc["input_ids"].shape[0],
                                                                             args.tokens))], 1)
        mask = torch.ones_like(ids)
        trainer.model.train()
        plain = min(plain_step_seconds(trainer.model, ids, mask) for _ in range(2))
    per_step = total / args.steps
    shares = {k: round(v / total_cpu, 3) for k, v in cpu.items()}  # shares of the step's CPU time
    shares["other"] = round(1 - sum(shares.values()), 3)
    result = {"variant": args.variant, "model": args.model, "steps": args.steps,
              "prompts_x_generations_x_tokens": [args.prompts, args.generations, args.tokens],
              "activation_checkpointing": grpo_args.activation_checkpointing, "torch_threads": torch.get_num_threads(),
              "seconds_per_step": round(per_step, 1), "cpu_seconds_per_step": round(total_cpu / args.steps, 1),
              "wall_seconds": {k: round(v, 1) for k, v in wall.items()},
              "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()}, "cpu_share": shares, "plain_forward_backward_seconds": round(plain, 1),
              "step_over_plain_forward_backward": round(per_step / plain, 2),
              "note": "measured under shared load (2 CPU cores shared by several sessions); compare ratios only",
              "date": time.strftime("%Y-%m-%d")}
    print(result)
    write_json(layout.bench / f"profile_grpo_{args.variant}.json", result)


if __name__ == "__main__":
    main()
