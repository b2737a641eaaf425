"""SafeRLHF dashboard: `saferlhf dashboard` (or `make dashboard`) runs `streamlit run dashboard/app.py`.

Nine pages, each a thin view over `saferlhf.dashboard_data` (files under outputs/) and
`saferlhf.dashboard_live` (scorer, policies, MLflow registry)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pages import the shared `ui` module

import ui  # noqa: E402

# no page icons: Streamlit fetches material-icon favicons from fonts.gstatic.com, and the dashboard runs offline
st.set_page_config(page_title="SafeRLHF", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", default=True),
    st.Page("pages/before_after.py", title="Before / After"),
    st.Page("pages/training.py", title="Training"),
    st.Page("pages/safety_metrics.py", title="Safety metrics"),
    st.Page("pages/calibration.py", title="Calibration"),
    st.Page("pages/probes.py", title="Safety probes"),
    st.Page("pages/prompt_tester.py", title="Prompt tester"),
    st.Page("pages/drift.py", title="Drift"),
    st.Page("pages/registry.py", title="Registry"),
]
page = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"Outputs: `{ui.layout().root}`")
    if st.button("Reload data", help="Forget cached outputs and read the files again."):
        st.cache_data.clear()
page.run()
