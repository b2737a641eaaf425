"""MLflow model-from-code entry for `PolicyModel` (see saferlhf.registry.pyfunc)."""

from mlflow.models import set_model

from saferlhf.registry.pyfunc import PolicyModel

set_model(PolicyModel())
