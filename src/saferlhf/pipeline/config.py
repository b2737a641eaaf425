"""Pipeline configuration: the YAML (name, path or inline text) plus the pipeline parameters, resolved once into
one validated section per stage, and the assessments those sections plan; `k=v` parameter parsing; the code version
that keys the step cache."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from saferlhf.config import Config, RegistryConfig, StageConfig, format_validation_error
from saferlhf.errors import UserError
from saferlhf.pipeline.platform import SHARED_HOST_ENV, require_tracking_uri
from saferlhf.stages import ASSESSMENTS, OPTIONAL_ASSESSMENTS


# Pipeline parameter -> the config fields it sets; its "unset" value (UNSET: the pipeline's default) keeps the
# YAML's value. Every other value is applied, 0 included (`seed=0`, `min_unsafe_reduction=0.0`).
PARAM_FIELDS: dict[str, list[tuple[str, str]]] = {
    "reward_epochs": [("reward", "num_epochs")],
    "policy_epochs": [("policy", "num_epochs")],
    "rl_steps": [("rl", "max_steps")],
    "objective": [("rl", "objective")],
    "target_kl": [("rl", "target_kl")],
    "min_unsafe_reduction": [("registry", "min_unsafe_reduction")],
    "max_over_refusal_increase": [("registry", "max_over_refusal_increase")],
    "max_probe_risk": [("registry", "max_probe_risk")],
}
UNSET: dict[str, Any] = {"seed": -1, "reward_epochs": 0, "policy_epochs": 0, "rl_steps": 0, "objective": "",
                         "target_kl": 0.0, "min_unsafe_reduction": -1.0, "max_over_refusal_increase": -1.0,
                         "max_probe_risk": -1.0, "window": "", "min_records": 0, "max_drift_share": 0.0}
# RegistryConfig fields every stage payload carries, so a step tracks to the YAML's MLflow server and experiment.
TRACKING_FIELDS = ("tracking", "tracking_uri", "experiment")


def is_unset(name: str, value: Any) -> bool:
    """A pipeline parameter left at its default (or None) keeps the YAML's value.

    >>> is_unset("seed", -1), is_unset("seed", 0), is_unset("min_unsafe_reduction", 0.0)
    (True, False, False)
    """
    return value is None or (name in UNSET and not isinstance(value, bool) and value == UNSET[name])
# Path fields whose value the pipeline supplies through artifacts (a YAML path would bypass them).
ARTIFACT_FIELDS = ("data_path", "output_dir", "output_path", "policy_path", "reward_model_path", "base_policy_path",
                   "rl_policy_path", "model_path")


def config_dirs() -> list[Path]:
    """Where config names (`demo` -> demo.yaml) are looked up: $SAFERLHF_CONFIG_DIR, ./configs, the source tree."""
    dirs = [Path(os.environ["SAFERLHF_CONFIG_DIR"])] if os.environ.get("SAFERLHF_CONFIG_DIR") else []
    return dirs + [Path("configs"), Path(__file__).resolve().parents[3] / "configs"]


def read_config_source(config: str) -> tuple[dict, str]:
    """(raw mapping, where) from a config name, a YAML path or inline YAML text ("" = embedded defaults)."""
    if not config.strip():
        return {}, "defaults"
    if "\n" in config or ":" in config.split("/")[0]:
        text, where = config, "inline config"
    else:
        candidates = [Path(config)] + [d / f"{config}.yaml" for d in config_dirs()]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise UserError(f"config {config!r} not found (looked in {', '.join(str(p) for p in candidates)})")
        text, where = path.read_text(), str(path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{where}: top level must be a mapping of sections, got {type(raw).__name__}")
    return raw, where


def resolve_config(config: str, overrides: dict | None = None, params: dict | None = None) -> Config:
    """The validated root config: YAML (name/path/text), then `overrides` ({section: {field: value}}), then the
    pipeline's convenience parameters (`seed` applies to every section with a seed; see PARAM_FIELDS)."""
    raw, where = read_config_source(config)
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for section, fields in (overrides or {}).items():
        if not isinstance(fields, dict):
            raise UserError(f"overrides.{section} must be a mapping of fields, got {fields!r}")
        raw.setdefault(section, {}).update(fields)
    params = {k: v for k, v in (params or {}).items() if not is_unset(k, v)}
    for name, value in params.items():
        if name == "seed":
            targets = [(s, "seed") for s, f in Config.model_fields.items() if _has_field(f.annotation, "seed")]
        elif name in PARAM_FIELDS:
            targets = [t for t in PARAM_FIELDS[name] if t[0] in Config.model_fields]
        else:
            raise UserError(f"unknown pipeline parameter {name!r} (known: seed, {', '.join(PARAM_FIELDS)})")
        for section, field in targets:
            raw.setdefault(section, {})[field] = value
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise UserError(format_validation_error(e, where)) from None
    require_tracking_uri(cfg.registry.tracking_uri, "pipeline config")  # a cluster run without MLflow stops here
    return cfg


def _has_field(annotation: Any, field: str) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, StageConfig) and field in annotation.model_fields


def section_payloads(cfg: Config, sections: list[str], code_version: str) -> dict[str, str]:
    """One JSON string per stage: its section, the tracking fields of `registry` and the code version (so a cache
    key changes with the code)."""
    out = {}
    tracking = {k: getattr(cfg.registry, k) for k in TRACKING_FIELDS}
    for s in sections:
        body = getattr(cfg, s).model_dump(mode="json") if s in Config.model_fields else None
        out[s] = json.dumps({"section": s, "code_version": code_version, "config": body, "tracking": tracking},
                            sort_keys=True)
    return out


def local_benchmark_files(cfg: Config, cwd: Path | None = None) -> Config:
    """Under kfp.local (`saferlhf pipeline run`: every step a process here, in its directory) the benchmark files
    as absolute paths, relative ones read from `cwd` as `saferlhf benchmark` reads them, each checked now rather than
    after training. Elsewhere (a cluster's resolve-config pod, which has neither the files nor their volume) `cfg`
    unchanged: the benchmark item's pod reads them from the image or a mounted volume."""
    if not cfg.benchmark.files or not os.environ.get(SHARED_HOST_ENV):
        return cfg
    cwd = cwd or Path.cwd()
    files = []
    for i, f in enumerate(cfg.benchmark.files):
        path = cwd / f.path  # an absolute f.path stays as it is
        if not path.is_file():
            raise UserError(f"benchmark.files[{i}]: {f.path} not found (relative paths are read from {cwd})")
        files.append(f.model_copy(update={"path": str(path)}))
    return cfg.model_copy(update={"benchmark": cfg.benchmark.model_copy(update={"files": tuple(files)})})


def assessment_plan(payloads: dict[str, str]) -> list[dict]:
    """The fan-out's items from the assessments' section payloads (section_payloads), in ASSESSMENTS order:
    [{"assessment": stage, "stage": its payload}], an optional one only where its section turns it on
    (OPTIONAL_ASSESSMENTS: benchmark when `benchmark.files` lists files)."""
    def planned(name: str) -> bool:
        field = OPTIONAL_ASSESSMENTS.get(name)
        return field is None or bool((json.loads(payloads[name]).get("config") or {}).get(field))

    return [{"assessment": name, "stage": payloads[name]} for name in ASSESSMENTS if planned(name)]


# Drift-monitor pipeline parameters, each setting the `monitor` field of the same name (UNSET keeps the YAML's).
MONITOR_PARAMS = ("window", "min_records", "max_drift_share")


def monitor_payload(config: str, overrides: dict | None, code_version: str, **params: Any) -> str:
    """The drift-monitor pipeline's `monitor` section payload: the YAML, then `overrides`, then its parameters."""
    unknown = sorted(set(params) - set(MONITOR_PARAMS))
    if unknown:
        raise UserError(f"unknown monitor parameter(s) {', '.join(unknown)} (known: {', '.join(MONITOR_PARAMS)})")
    merged = dict(overrides or {})
    section = merged.get("monitor", {})
    fields = {k: v for k, v in params.items() if not is_unset(k, v)}
    merged["monitor"] = {**section, **fields} if isinstance(section, dict) else section  # not a dict: resolve says so
    return section_payloads(resolve_config(config, merged), ["monitor"], code_version)["monitor"]


def stage_config(payload: str) -> tuple[str, StageConfig, RegistryConfig]:
    """(section, stage config, tracking settings) from a `section_payloads` string; artifact-supplied path fields
    are cleared. The tracking settings are the YAML's `registry` section's (defaults for an older payload)."""
    data = json.loads(payload)
    section = data["section"]
    if data.get("config") is None or section not in Config.model_fields:
        raise RuntimeError(f"stage {section!r} does not exist in this saferlhf version (no `{section}` config section)")
    cls = Config.model_fields[section].annotation
    body = {k: (None if k in ARTIFACT_FIELDS else v) for k, v in data["config"].items()}
    tracking = RegistryConfig(**{k: v for k, v in (data.get("tracking") or {}).items() if k in TRACKING_FIELDS})
    return section, cls.model_validate(body), tracking


def source_hash(root: Path | None = None) -> str:
    """Short sha256 of the package's source files: the `code_version` pipeline parameter of local runs."""
    root = root or Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` strings -> dict; values are JSON when they parse (numbers, booleans, objects), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param must look like name=value, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


