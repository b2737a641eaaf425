"""One typed, frozen config per stage, loaded from YAML and overridable by CLI flags.

Each field's docstring is its documentation: the CLI builds `--help` from it (``use_attribute_docstrings``),
so there is no second copy to drift. Rules are checked when a config is built and the message names the
rule and the value that broke it. Values derived at run time (resolved paths, device) are never written back.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from saferlhf.config.assess import (BENCHMARK_FORMATS, JUDGE_NAMES, AssessConfig, BenchmarkConfig, BenchmarkFile,
                                    EvaluateConfig, ProbeConfig)
from saferlhf.config.base import (PROBE_NAMES, REGISTERED_MODELS, SIGNALS, UNSAFE_THRESHOLD, ComputeConfig,
                                  SamplingConfig, StageConfig)
from saferlhf.config.ops import DashboardConfig, ExportConfig, MonitorConfig, RegistryConfig, ServeConfig
from saferlhf.config.training import (ContrastConfig, DataConfig, GenerateConfig, LoraSettings, PolicyConfig,
                                     RewardConfig, RLConfig)
from saferlhf.errors import UserError

__all__ = ["BENCHMARK_FORMATS", "JUDGE_NAMES", "PROBE_NAMES", "REGISTERED_MODELS", "SIGNALS", "UNSAFE_THRESHOLD",
           "AssessConfig", "BenchmarkConfig", "BenchmarkFile", "ComputeConfig", "Config", "ContrastConfig",
           "DashboardConfig", "DataConfig", "EvaluateConfig", "ExportConfig", "GenerateConfig", "LoraSettings",
           "MonitorConfig",
           "PolicyConfig", "ProbeConfig", "RLConfig", "RegistryConfig", "RewardConfig", "SamplingConfig",
           "ServeConfig", "StageConfig", "format_validation_error", "load_config", "override"]


class Config(BaseModel):
    """The whole system's configuration: one section per stage."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    output_root: str = "outputs"
    """Root folder of all outputs (the seed's layout)."""
    data: DataConfig = DataConfig()
    reward: RewardConfig = RewardConfig()
    policy: PolicyConfig = PolicyConfig()
    generate: GenerateConfig = GenerateConfig()
    contrast: ContrastConfig = ContrastConfig()
    rl: RLConfig = RLConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    probe: ProbeConfig = ProbeConfig()
    monitor: MonitorConfig = MonitorConfig()
    registry: RegistryConfig = RegistryConfig()
    dashboard: DashboardConfig = DashboardConfig()
    export: ExportConfig = ExportConfig()
    serve: ServeConfig = ServeConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line per problem: `where: section.field: message (got value)`."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        parts.append(f"{loc}: {e['msg']}{got}")
    return f"{where}: " + "; ".join(parts)


def load_config(path: str | Path | None = None) -> Config:
    """Read a YAML config; no path gives the embedded defaults."""
    if path is None:
        return Config()
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{p}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{p}: top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise UserError(format_validation_error(e, str(p))) from None


def override(stage_cfg: StageConfig, updates: dict, where: str = "command-line flags") -> StageConfig:
    """A new stage config with `updates` applied and validated (the original is untouched)."""
    updates = {k: v for k, v in updates.items() if v is not None}
    if not updates:
        return stage_cfg
    base = stage_cfg.model_dump()
    merged = {**base, **{k: ({**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v)
                         for k, v in updates.items()}}
    try:
        return type(stage_cfg).model_validate(merged)
    except ValidationError as e:
        raise UserError(format_validation_error(e, where)) from None
