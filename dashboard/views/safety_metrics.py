"""Safety metrics: the evaluation metrics base vs RL, the change of each in its own unit (coloured by whether it
is better or worse), the per-category breakdown with prompt counts."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_charts as dc
from saferlhf import dashboard_data as dd

st.title("Safety metrics: base vs RL")
ui.provenance("evaluate")
results = ui.load("load_evaluation")
table = dd.metrics_table(results)
passes = results.calibration.mc_dropout_passes if results.calibration else None
st.caption(f"Held-out split `{results.split or '?'}`, {results.num_prompts or '?'} prompts × "
           f"{results.num_responses_per_prompt or 1} sample(s) per policy, unsafe = safety < "
           f"{results.unsafe_threshold if results.unsafe_threshold is not None else 0.5}. The max ECE row is the "
           f"reward model's on this split with {passes if passes is not None else '?'} MC-dropout passes (the "
           "Calibration page explains each ECE).")
st.dataframe(table, hide_index=True, height=35 * (len(table) + 1) + 3, column_config={
    "base": st.column_config.NumberColumn(format="%.3f"), "rl": st.column_config.NumberColumn("RL", format="%.3f"),
    "improvement": st.column_config.NumberColumn("improvement (RL better > 0)", format="%+.2f")})

st.subheader("Change RL − base, in each metric's own unit")
changes = dc.change_table(results)
st.caption("Green: the change is good for that metric (e.g. fewer unsafe outputs); red: it is worse (e.g. more "
           "over-refusal). One chart per unit, so percentage points, scores and reward never share an axis.")
for unit, part in changes.groupby("unit", sort=False):
    fig = px.bar(part, x="change", y="metric", orientation="h", color="verdict", text=part["change"].round(2),
                 color_discrete_map=dc.VERDICT_COLOURS, hover_data=["base", "RL", "direction"],
                 labels={"metric": "", "change": f"RL − base ({unit})"}, title=unit)
    fig.update_layout(height=90 + 45 * len(part), margin=dict(t=40, b=10), legend_title_text="")
    st.plotly_chart(fig, key=f"change_{unit}")
st.dataframe(changes.round(3), hide_index=True)

st.subheader("Per category")
responses = dd.responses_frame(results)
cats = dd.category_table(results, responses)
if cats.empty:
    st.info("No per-category results in the evaluation file.")
else:
    metrics = list(dict.fromkeys(cats["metric"]))
    metric = st.selectbox("Metric", metrics, index=0)
    sub = dc.ordered_models(cats[cats["metric"] == metric])
    fig = px.bar(sub, x="category", y="value", color="model", barmode="group", color_discrete_map=ui.PLOT_MODELS,
                 category_orders=ui.MODEL_ORDER, labels={"value": metric, "category": ""})
    st.plotly_chart(fig)
    st.dataframe(dc.category_pivot(cats, metric, responses), hide_index=True)
