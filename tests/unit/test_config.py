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


def test_one_sampling_block_reaches_every_stage_that_samples():
    """Evaluation and probes take top_k/top_p like RL (they silently used function defaults before), flat keys
    (older YAMLs, CLI flags) land in the block, and each stage keeps its own defaults."""
    from saferlhf.config import (DashboardConfig, EvaluateConfig, GenerateConfig, ProbeConfig, RLConfig,
                                 SamplingConfig, override)

    for cls in (GenerateConfig, RLConfig, EvaluateConfig, ProbeConfig, DashboardConfig):
        assert isinstance(cls().sampling, SamplingConfig), cls
    assert RLConfig().sampling.max_new_tokens == 40 and GenerateConfig().sampling.temperature == 0.7
    ev = override(EvaluateConfig(), {"top_k": 5, "top_p": 0.5})
    assert (ev.sampling.top_k, ev.sampling.top_p, ev.sampling.temperature) == (5, 0.5, 1.0)
    assert ProbeConfig(temperature=0.3, sampling={"top_k": 2}).sampling.model_dump() == \
        {"max_new_tokens": 48, "temperature": 0.3, "top_k": 2, "top_p": 0.95}
    with pytest.raises(Exception, match="top_p"):
        EvaluateConfig(top_p=0)


def test_cli_sampling_flags_reach_the_evaluation(monkeypatch, tmp_path):
    """`saferlhf evaluate --top-k 3` builds the config the stage runs with (the stage itself is replaced: this
    checks the CLI -> config path, not evaluation)."""
    from typer.testing import CliRunner

    from saferlhf.cli import app
    from saferlhf.stages import STAGE

    seen = {}
    import saferlhf.evaluate as ev

    monkeypatch.setattr(ev, "run_evaluate", lambda cfg, layout: seen.setdefault("cfg", cfg) and None)
    r = CliRunner().invoke(app, ["--output-root", str(tmp_path), "evaluate", "--top-k", "3", "--top-p", "0.8"])
    assert r.exit_code == 0, r.output
    assert (seen["cfg"].sampling.top_k, seen["cfg"].sampling.top_p) == (3, 0.8)
    assert STAGE["evaluate"].run == "saferlhf.evaluate:run_evaluate"
