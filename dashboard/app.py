"""SafeRLHF dashboard: `saferlhf dashboard` (or `make dashboard`) runs `streamlit run dashboard/app.py`.

Ten pages, each a thin view over `saferlhf.dashboard_data` (files under outputs/) and
`saferlhf.dashboard_live` (scorer, policies, MLflow registry)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pages import the shared `ui` module

import ui  # noqa: E402

# no page icons: Streamlit fetches material-icon favicons from fonts.gstatic.com, and the dashboard runs offline
st.set_page_config(page_title="SafeRLHF", layout="wide")

# The pages live in views/, not pages/: with a pages/ folder beside the entry point Streamlit starts in its v1
# multipage mode, and a fresh server's first visit by URL (/calibration) would run that page script on its own,
# without this file's navigation and page config (streamlit.runtime.pages_manager.uses_pages_directory).
PAGES = [
    st.Page("views/overview.py", title="Overview", default=True),
    st.Page("views/before_after.py", title="Before / After"),
    st.Page("views/training.py", title="Training"),
    st.Page("views/safety_metrics.py", title="Safety metrics"),
    st.Page("views/calibration.py", title="Calibration"),
    st.Page("views/probes.py", title="Safety probes"),
    st.Page("views/benchmarks.py", title="Benchmarks"),
    st.Page("views/prompt_tester.py", title="Prompt tester"),
    st.Page("views/drift.py", title="Drift"),
    st.Page("views/registry.py", title="Registry"),
]
page = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"Outputs: `{ui.layout().root}`")
    if st.button("Reload data", help="Forget cached outputs and read the files again."):
        st.cache_data.clear()
page.run()
