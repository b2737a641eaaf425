"""Live services behind the dashboard: the scoring endpoint (or the local reward model when none runs), the
policies for the prompt tester, and the MLflow registry. Pure (no streamlit import); heavy libraries (httpx,
mlflow, torch) are imported inside the functions that need them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from saferlhf.artifacts import Layout
from saferlhf.config import DashboardConfig, RegistryConfig, SamplingConfig
from saferlhf.dashboard_data import STAGE_BY_KEY, NotReady
from saferlhf.errors import UserError
from saferlhf.signals import SIGNALS, combined_reward


# ---------------------------------------------------------------- prompt tester
def parse_score_response(body: Any, n: int) -> pd.DataFrame:
    """The scorer's `/v1/score` answer (`{"model_name", "model_version", "results": [{safety, toxicity,
    hallucination_risk, compliance, reward}]}`, serving/schemas.py) -> (n, 5) frame; ValueError when the body does
    not hold n scored items."""
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != n:
        raise ValueError(f"scorer answer has no `results` list of {n} items: {str(body)[:200]}")
    cols = (*SIGNALS, "reward")
    if not all(isinstance(it, dict) and all(k in it for k in cols) for it in items):
        raise ValueError(f"a scored item lacks one of {list(cols)}: {str(items)[:200]}")
    return pd.DataFrame([{k: float(it[k]) for k in cols} for it in items])


def score_with_endpoint(url: str, prompts: list[str], responses: list[str], timeout: float = 10.0,
                        token: str | None = None) -> tuple[pd.DataFrame, str]:
    """Score pairs through a running scorer's `/v1/score`; (scores, model version). Raises httpx errors."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    items = [{"prompt": p, "response": r} for p, r in zip(prompts, responses)]
    resp = httpx.post(url.rstrip("/") + "/v1/score", json={"items": items}, timeout=timeout, headers=headers)
    resp.raise_for_status()
    body = resp.json()
    version = str(body.get("model_version", "?")) if isinstance(body, dict) else "?"
    return parse_score_response(body, len(items)), version


def score_with_model(scorer, prompts: list[str], responses: list[str]) -> pd.DataFrame:
    """Score pairs with a local `RewardScorer` (same columns as the endpoint)."""
    s = scorer.scores(prompts, responses)  # (N, 4)
    df = pd.DataFrame(s, columns=list(SIGNALS)).astype(float)
    df["reward"] = combined_reward(s, scorer.weights)
    return df


# ---------------------------------------------------------------- registry
def connect_registry(cfg: RegistryConfig, layout: Layout) -> str:
    """Point mlflow at the configured registry (`saferlhf.tracking.connect`); NotReady while the embedded
    SQLite store has not been created by a pipeline run."""
    from saferlhf.tracking import connect, tracking_uri

    uri = tracking_uri(cfg, layout)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise NotReady(f"no MLflow registry at {uri}", STAGE_BY_KEY["register"].command)
    return connect(cfg, layout)


def registry_versions(cfg: RegistryConfig, layout: Layout) -> pd.DataFrame:
    """Every registered version: model, version, aliases, gate decision and reason, previous champion, creation
    time, gate results and gate metrics (dicts), newest first per model."""
    from mlflow.exceptions import MlflowException

    from saferlhf.registry.promote import describe, list_models

    uri = connect_registry(cfg, layout)
    try:
        rows = [{"model": m["name"], **v} for m in list_models() for v in describe(m["name"])["versions"]]
    except MlflowException as e:
        raise NotReady(f"MLflow registry at {uri} is not readable ({str(e).splitlines()[0]})",
                       STAGE_BY_KEY["register"].command) from None
    cols = ["model", "version", "aliases", "decision", "reason", "previous_champion", "created", "run_id", "gates",
            "metrics", "provenance"]
    df = pd.DataFrame(rows, columns=cols)
    df["version"] = df["version"].astype(int)
    df["aliases"] = df["aliases"].apply(lambda a: ", ".join(a or []))
    df["created"] = pd.to_datetime(df["created"], unit="ms", utc=True)
    return df.sort_values(["model", "version"], ascending=[True, False], ignore_index=True)


def champions(versions: pd.DataFrame) -> pd.DataFrame:
    """The champion version of each registered model."""
    mask = versions["aliases"].str.split(", ").apply(lambda a: "champion" in a)
    return versions.loc[mask, ["model", "version", "created", "decision"]].reset_index(drop=True)


def gate_tables(row: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One version's (gate results pass/fail, gate metrics recorded on it)."""
    gates, metrics = row.get("gates") or {}, row.get("metrics") or {}
    return (pd.DataFrame([{"gate": g, "result": r} for g, r in sorted(gates.items())], columns=["gate", "result"]),
            pd.DataFrame([{"metric": k, "value": v} for k, v in sorted(metrics.items())], columns=["metric", "value"]))


OPERATOR_ENV = "SAFERLHF_OPERATOR"


def operator_identity() -> str | None:
    """Who may change the champion from this dashboard: SAFERLHF_OPERATOR, set per deployment (the dashboard has
    no login of its own; give each operator their own instance, or let the authenticating proxy in front set it).
    None: registry actions are disabled."""
    return os.environ.get(OPERATOR_ENV, "").strip() or None


def _check_action(operator: str | None, reason: str, what: str) -> None:
    if not operator:
        raise UserError(f"a {what} from the dashboard needs an operator identity: set {OPERATOR_ENV}")
    if not reason.strip():
        raise UserError(f"a {what} from the dashboard must give a reason")


def promote_version(cfg: RegistryConfig, layout: Layout, model: str, version: int, reason: str,
                    force: bool = False, operator: str | None = None) -> dict:
    """Gate-checked promotion to `champion` (forced when `force`), recorded on the version with `reason` and
    the operator (`decided_by`)."""
    from saferlhf.registry.promote import promote

    _check_action(operator, reason, "promotion")
    connect_registry(cfg, layout)
    return promote(model, str(version), cfg, force=force, reason=reason.strip(), operator=operator)


def rollback_model(cfg: RegistryConfig, layout: Layout, model: str, reason: str, operator: str | None = None) -> dict:
    """Move `champion` back to the previous champion, recorded with `reason` and the operator."""
    from saferlhf.registry.promote import rollback

    _check_action(operator, reason, "rollback")
    connect_registry(cfg, layout)
    return rollback(model, reason.strip(), operator=operator)


def score_pairs(prompts: list[str], responses: list[str], url: str | None, local_scorer, timeout: float = 10.0
                ) -> tuple[pd.DataFrame, str]:
    """Scores from the endpoint at `url` when it answers, else from `local_scorer()` (a zero-argument callable
    returning a RewardScorer, so the model loads only when needed). Returns (scores, where they came from)."""
    import httpx

    reason = "no scorer URL configured"
    if url:
        try:
            df, version = score_with_endpoint(url, prompts, responses, timeout, os.environ.get("SAFERLHF_API_TOKEN"))
            return df, f"scoring endpoint {url} (model version {version})"
        except (httpx.HTTPError, ValueError) as e:
            reason = f"endpoint {url} unavailable: {type(e).__name__}"
    return score_with_model(local_scorer(), prompts, responses), f"local reward model ({reason})"


def policy_paths(layout: Layout) -> dict[str, Path]:
    """Saved policies the prompt tester can sample from: {'base': path, 'rl': path}, those that exist."""
    found = {"base": layout.base_policy, "rl": layout.rl_policy}
    return {k: p for k, p in found.items() if (p / "config.json").is_file()}


def generate_answer(policy, prompt: str, sampling: SamplingConfig, seed: int) -> str:
    """One sampled completion of `prompt` from a loaded (model, tokenizer) policy."""
    from saferlhf.policy import generate_responses

    model, tokenizer = policy
    return generate_responses(model, tokenizer, [prompt], 1, **sampling.model_dump(), seed=seed)[0][0]


def load_local_scorer(path: Path):
    """The reward model as a RewardScorer, or NotReady when it has not been trained."""
    if not (Path(path) / "model.safetensors").is_file():
        raise NotReady(f"no reward model at {path}", STAGE_BY_KEY["train-reward"].command)
    from saferlhf.reward.model import RewardScorer

    return RewardScorer(path)


# ---------------------------------------------------------------- launching
def app_path() -> Path:
    """dashboard/app.py of this checkout (env SAFERLHF_DASHBOARD_APP overrides, e.g. in a container)."""
    override = os.environ.get("SAFERLHF_DASHBOARD_APP")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    if not path.is_file():
        raise UserError(f"dashboard app not found at {path}; set SAFERLHF_DASHBOARD_APP to dashboard/app.py")
    return path


def streamlit_command(cfg: DashboardConfig, layout: Layout, config_path: str | Path | None) -> tuple[list[str], dict]:
    """(argv, extra environment) that serve the dashboard with `streamlit run`, headless, on cfg.host:cfg.port.
    The app reads the outputs root, the YAML config and this (flag-overridden) section from the environment."""
    argv = [sys.executable, "-m", "streamlit", "run", str(app_path()), "--server.address", cfg.host,
            "--server.port", str(cfg.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer"]  # an offline tool: no "Deploy" button, no developer menu
    env = {"SAFERLHF_OUTPUT_ROOT": str(layout.root.resolve()), "SAFERLHF_DASHBOARD": cfg.model_dump_json()}
    if config_path:
        env["SAFERLHF_CONFIG"] = str(Path(config_path).resolve())
    return argv, env
