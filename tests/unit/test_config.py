"""Configs: YAML + flags precedence, validation messages, shipped configs load."""

import pytest

from saferlhf.config import Config, RewardConfig, ServeConfig, load_config, override
from saferlhf.errors import UserError
from tests.conftest import REPO


@pytest.mark.parametrize("name", ["demo", "full"])
def test_shipped_configs_load(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert isinstance(cfg, Config)


def test_flags_override_yaml_and_original_is_untouched():
    base = load_config(REPO / "configs" / "demo.yaml").reward
    new = override(base, {"batch_size": 4, "model_name": None})
    assert new.batch_size == 4 and base.batch_size == 16
    assert new.num_epochs == base.num_epochs


def test_validation_names_field_and_value():
    with pytest.raises(UserError, match=r"batch_size: .*greater than or equal to 1 \(got 0\)"):
        override(RewardConfig(), {"batch_size": 0})
    with pytest.raises(UserError, match="every reward weight must be >= 0"):
        override(RewardConfig(), {"weights": [1, -1, 1, 1]})
    with pytest.raises(UserError, match=r"grpc_port \(8000\) must differ from port \(8000\)"):
        override(ServeConfig(), {"grpc_port": 8000})
    assert override(ServeConfig(), {"grpc_port": 8001}).grpc_port == 8001


@pytest.mark.parametrize("text, expected", [
    ("reward: [", "invalid YAML"),
    ("- 1\n- 2", "top level must be a mapping"),
    ("reward:\n  batch_sise: 3", "reward.batch_sise: Extra inputs are not permitted"),
    ("policy:\n  n_embd: 130\n  n_head: 4", "must be divisible by n_head"),
])
def test_bad_yaml(tmp_path, text, expected):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(UserError, match=expected.replace("[", r"\[")):
        load_config(p)
