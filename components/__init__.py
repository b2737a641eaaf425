"""KFP v2 components: one thin adapter per SafeRLHF stage (see components/_common.py)."""
