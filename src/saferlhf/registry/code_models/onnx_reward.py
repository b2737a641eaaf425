"""MLflow model-from-code entry for `OnnxRewardModel` (see saferlhf.registry.pyfunc)."""

from mlflow.models import set_model

from saferlhf.registry.pyfunc import OnnxRewardModel

set_model(OnnxRewardModel())
