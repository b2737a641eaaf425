"""SafeRLHF: safety RLHF as an MLOps system. Importing the package has no side effects."""

__version__ = "0.1.0"
