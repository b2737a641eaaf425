"""Policy stages: the base policy (`run_init`) and sampling from any saved policy (`run_generate`)."""

from saferlhf.policy.generate import generate_responses, load_policy, run_generate
from saferlhf.policy.lm import format_prompt, run_init, save_policy, use_padding_aware_positions

__all__ = ["format_prompt", "generate_responses", "load_policy", "run_generate", "run_init", "save_policy",
           "use_padding_aware_positions"]
