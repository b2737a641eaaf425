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
from saferlhf import dashboard_live as dl
from saferlhf.artifacts import Layout
from saferlhf.config import Config, DashboardConfig, load_config
from saferlhf.errors import UserError

PLOT_MODELS = {"base": "#9e9e9e", "RL": "#1976d2"}  # one colour per model on every chart


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
