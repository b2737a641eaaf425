"""MLflow model-from-code entry for `TorchRewardModel` (see saferlhf.registry.pyfunc)."""

from mlflow.models import set_model

from saferlhf.registry.pyfunc import TorchRewardModel

set_model(TorchRewardModel())
