"""Overview: the pipeline as a diagram with each stage's status, headline metrics, champion versions."""

import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_live as dl

st.title("SafeRLHF overview")
status = ui.load("pipeline_status")
st.graphviz_chart(dd.pipeline_dot(status), width="stretch")
done = int((status["status"] == "done").sum())
st.caption(f"{done} of {len(status)} stages have outputs (green: done, orange: older than an upstream stage, "
           "grey: not run yet).")

st.subheader("Headline metrics (base → RL)")
cards = ui.load("headline_metrics")
if cards:
    ui.metric_cards(cards)
else:
    st.info("No evaluation or probe results yet. Run the whole pipeline with `make demo`, or the stages:")
    st.code("saferlhf policy init && saferlhf policy train-rl && saferlhf evaluate && saferlhf probe",
            language="bash")

st.subheader("Champions")
try:
    champs = dl.champions(ui.registry_versions())
    if champs.empty:
        st.info("Models are registered but none is `champion` yet; promote one on the Registry page.")
    else:
        st.dataframe(champs, hide_index=True)
except dd.NotReady as e:
    st.caption(f"No registry yet: {e.what}. Run `{e.command}` to register models.")

st.subheader("Stages")
st.dataframe(status[["stage", "status", "updated", "command", "artifact"]], hide_index=True)
