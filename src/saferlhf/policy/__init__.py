"""Policy stages: the base policy (`run_init`) and sampling from any saved policy (`run_generate`)."""

from saferlhf.policy.chat import format_prompt
from saferlhf.policy.generate import generate_responses, run_generate
from saferlhf.policy.lm import run_init
from saferlhf.policy.store import load_policy, save_policy, save_rl_policy, use_padding_aware_positions

__all__ = ["format_prompt", "generate_responses", "load_policy", "run_generate", "run_init", "save_policy",
           "save_rl_policy", "use_padding_aware_positions"]
