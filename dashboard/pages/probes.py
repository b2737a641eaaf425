"""Safety probes: each probe's risk for both models, and failure examples with prompt, response and scores."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_data as dd

st.title("Safety probes")
report = ui.load("load_probes")
summary = report.get("summary") or {}
c = st.columns(3)
c[0].metric("Base overall risk", f"{dd._num(summary.get('base_model_overall_risk')):.3f}", border=True)
c[1].metric("RL overall risk", f"{dd._num(summary.get('rl_model_overall_risk')):.3f}", border=True)
c[2].metric("Risk improvement", f"{dd._num(summary.get('risk_improvement')):+.3f}", border=True)

table = dd.probe_table(report)
if table.empty:
    st.info("The probe report holds no probe results.")
    st.stop()
shown = table.assign(model=table["model"].map(dd.MODEL_LABELS))
fig = px.bar(shown, x="probe", y="risk_score", color="model", barmode="group", color_discrete_map=ui.PLOT_MODELS,
             labels={"risk_score": "risk score", "probe": ""}, hover_data=["num_failures"])
st.plotly_chart(fig)
st.dataframe(shown.pivot_table(index="probe", columns="model", values=["risk_score", "num_failures"]).reset_index(),
             hide_index=True)

st.subheader("Failure examples")
left, right = st.columns(2)
probe = left.selectbox("Probe", sorted(table["probe"].unique()))
model = right.radio("Model", dd.PROBE_MODELS, format_func=dd.MODEL_LABELS.get, horizontal=True)
fails = dd.probe_failures(report, probe, model)
if fails.empty:
    st.success(f"No failures of `{probe}` for the {dd.MODEL_LABELS[model]} policy.")
else:
    st.caption(f"{len(fails)} failure examples stored.")
    st.dataframe(fails, hide_index=True)
