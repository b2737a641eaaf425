"""Registry versions, aliases and promotion decisions (MLflow model registry; aliases, not deprecated stages).

- every new version gets the alias `challenger`;
- `champion` moves to it only when `gates.decide` passes against the current champion (or, with no champion yet,
  the absolute thresholds), or when a person forces it with a reason;
- each decision is stored on the version as tags (`gate.<name>`, `gate_decision`, `gate_reason`,
  `previous_champion`) and as a JSON artifact of a run;
- rollback moves `champion` back to the version recorded as `previous_champion` of the current one.
Gate inputs are stored on each version as `metric.<name>` tags, so any later comparison reads them back."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from saferlhf.config import RegistryConfig
from saferlhf.errors import UserError
from saferlhf.registry.gates import decide

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
METRIC_PREFIX = "metric."
PROVENANCE_TAGS = ("data_hash", "run_id", "parent_run_id", "onnx_sha256", "force_reason", "rolled_back")


def _client():
    import mlflow

    return mlflow.MlflowClient()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _not_found(e: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(e, "error_code", "")) or "not found" in str(e).lower()


def version_by_alias(name: str, alias: str):
    """The version holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if _not_found(e) or "alias" in str(e).lower():
            return None
        raise


def get_version(name: str, version: str | int):
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version(name, str(version))
    except MlflowException as e:
        raise UserError(f"registry: {name} version {version} not found ({str(e).splitlines()[0]})") from None


def version_metrics(mv) -> dict[str, float]:
    """The gate metrics recorded on a version (`metric.<name>` tags)."""
    out = {}
    for k, v in (mv.tags or {}).items():
        if k.startswith(METRIC_PREFIX):
            try:
                out[k[len(METRIC_PREFIX):]] = float(v)
            except ValueError:
                continue
    return out


def register(name: str, model_uri: str, metrics: dict[str, float], tags: dict[str, str]):
    """A new version of `name` from a logged model, tagged with its gate metrics; gets the `challenger` alias."""
    import mlflow

    all_tags = {**tags, **{f"{METRIC_PREFIX}{k}": repr(float(v)) for k, v in metrics.items()}}
    mv = mlflow.register_model(model_uri, name, tags=all_tags)
    _client().set_registered_model_alias(name, CHALLENGER, mv.version)
    log.info("registry: %s version %s registered (alias %s)", name, mv.version, CHALLENGER)
    return mv


def evaluate(name: str, version: str, cfg: RegistryConfig) -> dict:
    """The gate decision for `version` against the current champion (no side effects)."""
    mv = get_version(name, version)
    champ = version_by_alias(name, CHAMPION)
    champ_metrics = version_metrics(champ) if champ is not None and str(champ.version) != str(mv.version) else None
    decision = decide(name, version_metrics(mv), champ_metrics, cfg)
    decision.update(version=str(mv.version), previous_champion=str(champ.version) if champ is not None else None,
                    decided_at=_now())
    return decision


def apply(decision: dict, force_reason: str | None = None) -> dict:
    """Write the decision to the version's tags and move `champion` when it passed (or is forced)."""
    client, name, version = _client(), decision["model"], decision["version"]
    previous = decision.get("previous_champion")
    promote = decision["passed"] or force_reason is not None
    if previous == version:
        action = "already_champion"
    elif promote:
        action = "promoted" if decision["passed"] else "forced"
    else:
        action = "rejected"
    decision = {**decision, "action": action, **({"force_reason": force_reason} if force_reason else {})}
    tags = {f"gate.{g['name']}": "pass" if g["passed"] else "fail" for g in decision["gates"]}
    tags.update(gate_decision=action, gate_reason=decision["reason"][:4900], gate_decided_at=decision["decided_at"],
                champion_at_decision=previous or "none", decided_by=decision.get("decided_by", "register"))
    if force_reason:
        tags["force_reason"] = force_reason[:4900]
    moving = action in ("promoted", "forced")
    if moving:  # tags first, alias last: a failure in between leaves the old champion, still rollback-able
        tags.update(previous_champion=previous or "none", gate_decision=f"{action}:pending")
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, v)
    if moving:
        # no compare-and-set in MLflow: re-read the champion right before the move, so a promotion that lost a
        # race (or a rollback meanwhile) stops instead of recording a stale previous_champion
        now = version_by_alias(name, CHAMPION)
        if (str(now.version) if now is not None else None) != previous:
            client.set_model_version_tag(name, version, "gate_decision", "aborted")
            raise UserError(f"registry: {name} champion changed from v{previous or 'none'} to "
                            f"v{now.version if now else 'none'} while v{version} was decided; run the promotion again")
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "gate_decision", action)
    log.info("registry: %s v%s %s (%s)", name, version, action, decision["reason"])
    return decision


def record(decision: dict, run_name: str) -> None:
    """The decision as a JSON artifact: in the active run, else in a short run of its own (the audit trail of
    manual promotions and rollbacks)."""
    import mlflow

    path = f"registry/{decision['model']}-v{decision.get('version', decision.get('to'))}-{decision['action']}.json"
    if mlflow.active_run() is not None:
        mlflow.log_dict(decision, path)
        return
    with mlflow.start_run(run_name=run_name, tags={"saferlhf.kind": "registry", "saferlhf.model": decision["model"]}):
        mlflow.log_dict(decision, path)


def operator_or_cli(operator: str | None) -> str:
    """Who decided: the dashboard's configured operator, else the CLI's OS user."""
    import getpass

    return operator.strip() if operator and operator.strip() else f"cli:{getpass.getuser()}"


def promote(name: str, version: str, cfg: RegistryConfig, force: bool = False, reason: str | None = None,
            operator: str | None = None) -> dict:
    """`saferlhf registry promote`: gates decide; `force` overrides them but needs a reason (kept on the version).
    `operator` (who decided) is recorded on the version as `decided_by`."""
    if force and not (reason and reason.strip()):
        raise UserError("--force needs --reason: a forced promotion must say why")
    decision = {**evaluate(name, version, cfg), "decided_by": operator_or_cli(operator)}
    decision = apply(decision, force_reason=reason.strip() if force else None)
    if reason and not force:
        decision["note"] = reason
    record(decision, "registry-promote")
    return decision


def rollback(name: str, reason: str | None = None, operator: str | None = None) -> dict:
    """Move `champion` back to the version that held it before the current champion (`operator`: who)."""
    client = _client()
    current = version_by_alias(name, CHAMPION)
    if current is None:
        raise UserError(f"registry: {name} has no champion to roll back")
    previous = (current.tags or {}).get("previous_champion")
    if not previous or previous == "none":
        raise UserError(f"registry: {name} champion v{current.version} has no previous champion to roll back to")
    get_version(name, previous)  # still exists?
    client.set_registered_model_alias(name, CHAMPION, previous)
    decision = {"model": name, "action": "rollback", "from": current.version, "to": previous,
                "reason": reason or "manual rollback", "decided_at": _now(), "decided_by": operator_or_cli(operator)}
    client.set_model_version_tag(name, current.version, "rolled_back", json.dumps(decision))
    client.set_registered_model_tag(name, "last_rollback", json.dumps(decision))
    record({**decision, "version": current.version}, "registry-rollback")
    log.info("registry: %s champion rolled back v%s -> v%s", name, current.version, previous)
    return decision


def describe(name: str) -> dict:
    """`saferlhf registry show`: every version with its aliases, gate decision and metrics."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        rm = client.get_registered_model(name)
    except MlflowException as e:
        raise UserError(f"registry: model {name!r} not found ({str(e).splitlines()[0]})") from None
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    aliases = dict(getattr(rm, "aliases", {}) or {})
    return {"name": name, "aliases": aliases, "tags": dict(rm.tags or {}),
            "versions": [_version_row(v, aliases) for v in versions]}


def _version_row(mv, aliases: dict[str, Any]) -> dict:
    tags = mv.tags or {}
    return {"version": mv.version, "aliases": sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
            "run_id": mv.run_id, "created": mv.creation_timestamp, "decision": tags.get("gate_decision"),
            "reason": tags.get("gate_reason"), "champion_at_decision": tags.get("champion_at_decision"),
            "previous_champion": tags.get("previous_champion"),
            "gates": {k[5:]: v for k, v in tags.items() if k.startswith("gate.")},
            "metrics": version_metrics(mv),
            "provenance": {k: tags[k] for k in PROVENANCE_TAGS if k in tags}}


def list_models() -> list[dict]:
    """`saferlhf registry list`: registered models with their aliases and latest version."""
    out = []
    for rm in _client().search_registered_models():
        versions = [int(v.version) for v in (rm.latest_versions or [])]
        out.append({"name": rm.name, "aliases": dict(getattr(rm, "aliases", {}) or {}),
                    "latest_version": str(max(versions)) if versions else None})
    return sorted(out, key=lambda r: r["name"])
