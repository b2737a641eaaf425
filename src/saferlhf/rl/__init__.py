"""RL stage: GRPO fine-tuning of the policy against the reward model, with adaptive KL and a Lagrangian cost."""

from saferlhf.rl.control import adaptive_kl_update, lagrange_update
from saferlhf.rl.train import STAT_KEYS, SafetyReward, run_train_rl

__all__ = ["STAT_KEYS", "SafetyReward", "adaptive_kl_update", "lagrange_update", "run_train_rl"]
