"""Overview: the pipeline as a diagram with each stage's status, headline metrics, champion versions, and where
every number on the dashboard comes from."""

import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_live as dl
from saferlhf import dashboard_provenance as dp

st.title("SafeRLHF overview")
try:
    versions = ui.registry_versions()
except dd.NotReady as e:
    versions, no_registry = None, e
records = ui.stage_records()
registered = dp.registry_record(versions) if versions is not None else None
status = dp.with_registry_record(dp.pipeline_status(records), registered, {s: r.written for s, r in records.items()})
ui.show_champion_warnings(records)
st.graphviz_chart(dp.pipeline_dot(status), width="stretch")
done = int((status["status"] == "done").sum())
st.caption(f"{done} of {len(status)} stages are done (green: done, orange: stale — an upstream stage's record "
           "is newer than, or not the one, this stage consumed; grey: not run yet). Freshness comes from the "
           "records the reports embed, not file times; the Registry's is its newest registered version.")

st.subheader("Headline metrics (base → RL)")
cards = ui.load("headline_metrics")
if cards:
    ui.metric_cards(cards)
else:
    st.info("No evaluation or probe results yet. Run the whole pipeline with `make demo`, or the stages:")
    st.code("saferlhf policy init && saferlhf policy train-rl && saferlhf evaluate && saferlhf probe",
            language="bash")

st.subheader("Champions")
if versions is None:
    st.caption(f"No registry yet: {no_registry.what}. Run `{no_registry.command}` to register models.")
else:
    champs = dl.champions(versions)
    if champs.empty:
        st.info("Models are registered but none is `champion` yet; promote one on the Registry page.")
    else:
        st.dataframe(champs, hide_index=True)

st.subheader("Stages and provenance")
prov = dp.records_table(records).drop(columns="written")  # `updated` already says when
table = status[["stage", "key", "status", "why", "updated", "command"]].merge(prov, on="key", how="left").fillna("")
st.dataframe(table[["stage", "status", "why", "updated", "config", "mlflow_run", "commit", "report", "command"]],
             hide_index=True)
