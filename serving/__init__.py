"""FastAPI adapter of the SafeRLHF scoring service (logic lives in saferlhf.serve)."""
