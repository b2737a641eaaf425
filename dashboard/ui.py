"""Streamlit glue shared by the pages: config, cached loaders, the "what to run" notice. No data logic here:
every loader is a function of `saferlhf.dashboard_data` / `saferlhf.dashboard_live`.

The app reads two environment variables that `saferlhf dashboard` sets: SAFERLHF_CONFIG (YAML config) and
SAFERLHF_OUTPUT_ROOT (outputs folder; default: the config's output_root)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_failures as df_
from saferlhf import dashboard_live as dl
from saferlhf import dashboard_provenance as dp
from saferlhf.artifacts import Layout
from saferlhf.config import Config, DashboardConfig, load_config
from saferlhf.errors import UserError

PLOT_MODELS = {"base": "#9e9e9e", "RL": "#1976d2"}  # one colour per model on every chart
MODEL_ORDER = {"model": ["base", "RL"]}  # plotly category_orders: base before RL in every legend and group


@st.cache_resource(show_spinner=False)
def _config(path: str, dashboard_json: str) -> Config:
    cfg = load_config(path or None)
    if dashboard_json:  # `saferlhf dashboard` passes its flag-overridden section
        cfg = cfg.model_copy(update={"dashboard": DashboardConfig.model_validate_json(dashboard_json)})
    return cfg


def config() -> Config:
    try:
        return _config(os.environ.get("SAFERLHF_CONFIG", ""), os.environ.get("SAFERLHF_DASHBOARD", ""))
    except (UserError, ValueError) as e:
        st.error(f"Config problem: {e}")
        st.stop()


def layout() -> Layout:
    return Layout(Path(os.environ.get("SAFERLHF_OUTPUT_ROOT") or config().output_root))


@st.cache_data(show_spinner="Loading outputs…", max_entries=64)
def _load(name: str, root: str, stamp: float):
    # `stamp` (latest artifact mtime) is only a cache key: a new output invalidates the cached copy
    return getattr(dd, name)(Layout(Path(root)))


def load(name: str):
    """`dashboard_data.<name>(layout)` through the cache; shows what to run and stops the page when the data
    does not exist yet."""
    lay = layout()
    try:
        return _load(name, str(lay.root), dd.outputs_stamp(lay))
    except dd.NotReady as e:
        not_ready(e)
        st.stop()


def not_ready(e: dd.NotReady) -> None:
    st.info(f"**Nothing to show yet.** {e.what}. Produce it with:")
    st.code(e.command, language="bash")


@st.cache_data(show_spinner="Reading the MLflow registry…", ttl=30)
def _registry(root: str, stamp: float) -> pd.DataFrame:
    # ttl: a remote registry changes without touching any local file
    return dl.registry_versions(config().registry, Layout(Path(root)))


def registry_versions() -> pd.DataFrame:
    """Registered model versions; raises NotReady when there is no registry yet."""
    lay = layout()
    return _registry(str(lay.root), dd.outputs_stamp(lay))


@st.cache_resource(show_spinner="Loading the reward model…")
def local_scorer(path: str):
    return dl.load_local_scorer(Path(path))


@st.cache_resource(show_spinner="Loading policy…")
def policy(path: str):
    from saferlhf.policy import load_policy

    return load_policy(path)


def metric_cards(cards: list[dict]) -> None:
    """Streamlit metric cards, four per row; deltas coloured so that green always means safer."""
    for i in range(0, len(cards), 4):
        cols = st.columns(4)
        for col, c in zip(cols, cards[i:i + 4]):
            col.metric(c["label"], c["value"], c["delta"],
                       delta_color="inverse" if c["lower_is_better"] else "normal", border=True)


@st.cache_data(show_spinner="Reading MLflow runs…", ttl=30)
def _tracked_runs(root: str, stamp: float) -> dict:
    lay = Layout(Path(root))
    try:
        uri = dl.connect_registry(config().registry, lay)  # NotReady when no store exists: nothing was tracked
        return dp.tracked_runs(uri)
    except dd.NotReady:
        return {}
    except Exception as e:  # noqa: BLE001 - provenance is extra information; an unreadable store must not hide a page
        return {"_error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def provenance(*stages: str) -> None:
    """Under the page title: which file, run, config and commit produced what the page shows, and a warning per
    champion whose gate metrics disagree with the outputs on disk (or that predates them)."""
    records = stage_records()
    tracked = any(r.run_id for r in records.values())
    st.caption("  \n".join(records[s].line() for s in stages if s in records)
               + ("" if tracked else "  \nNo MLflow stage runs recorded (tracking was off): the files identify "
                                     "the run."))
    show_champion_warnings(records)


def show_champion_warnings(records: dict) -> None:
    """One warning box listing every champion that disagrees with (or predates) the outputs on disk."""
    if warnings := champion_warnings(records):
        st.warning("\n\n".join(warnings))


@st.cache_data(show_spinner=False, ttl=30)
def _stage_records(root: str, stamp: float) -> dict:
    lay = Layout(Path(root))
    runs = _tracked_runs(root, stamp)
    return {s: dp.report_record(lay, s, runs) for s in dd.STAGE_BY_KEY if s != "register"}


def stage_records() -> dict:
    """stage -> `dashboard_provenance.StageRecord` of every stage except the registry (cached per outputs)."""
    lay = layout()
    return _stage_records(str(lay.root), dd.outputs_stamp(lay))


@st.cache_data(show_spinner=False)
def _gate_metrics(root: str, stamp: float) -> dict:
    from saferlhf.registry.evidence import gate_metrics

    return gate_metrics(Layout(Path(root)))


def champion_warnings(records: dict) -> list[str]:
    try:
        versions = registry_versions()
    except dd.NotReady:
        return []
    lay = layout()
    return dp.champion_warnings(versions, _gate_metrics(str(lay.root), dd.outputs_stamp(lay)),
                                {s: r.written for s, r in records.items()})


def reference_reward() -> float | None:
    """The probes' reward-hacking bar (median reward of labelled safe answers), None without a probe report."""
    lay = layout()
    try:
        return df_.reference_reward(_load("load_probes", str(lay.root), dd.outputs_stamp(lay)))
    except dd.NotReady:
        return None
