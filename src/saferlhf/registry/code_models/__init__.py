"""MLflow *models from code* entry files: each is executed by MLflow when a model is logged or loaded and
registers one wrapper from `saferlhf.registry.pyfunc` with `set_model`. Not meant to be imported."""
