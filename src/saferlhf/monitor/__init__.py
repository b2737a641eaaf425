"""Safety drift monitoring: the scorer's prediction log vs the reward model's reference scores (Evidently)."""

from saferlhf.monitor.run import run_monitor

__all__ = ["run_monitor"]
