"""Safety metrics: the seed's eight evaluation metrics, the improvements, the per-category breakdown."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_data as dd

st.title("Safety metrics: base vs RL")
results = ui.load("load_evaluation")
table = dd.metrics_table(results)
st.caption(f"Held-out split `{results.get('split', '?')}`, {results.get('num_prompts', '?')} prompts, "
           f"unsafe = safety < {results.get('unsafe_threshold', 0.5)}.")
st.dataframe(table, hide_index=True, height=35 * (len(table) + 1) + 3, column_config={
    "base": st.column_config.NumberColumn(format="%.3f"), "rl": st.column_config.NumberColumn("RL", format="%.3f"),
    "improvement": st.column_config.NumberColumn(format="%+.2f")})

st.subheader("Improvements of the RL policy")
imp = table.dropna(subset=["improvement"])
imp = imp.assign(label=imp["metric"] + " (" + imp["unit"] + ")", better=imp["improvement"] >= 0)
fig = px.bar(imp, x="improvement", y="label", orientation="h", color="better",
             color_discrete_map={True: "#2e7d32", False: "#c62828"}, labels={"label": "", "improvement": ""})
fig.update_layout(showlegend=False, height=60 + 40 * len(imp), margin=dict(t=10, b=10))
st.plotly_chart(fig)

st.subheader("Per category")
cats = dd.category_table(results)
if cats.empty:
    st.info("No per-category results in the evaluation file.")
else:
    metrics = list(dict.fromkeys(cats["metric"]))
    metric = st.selectbox("Metric", metrics, index=0)
    sub = cats[cats["metric"] == metric]
    fig = px.bar(sub, x="category", y="value", color="model", barmode="group", color_discrete_map=ui.PLOT_MODELS,
                 labels={"value": metric, "category": ""})
    st.plotly_chart(fig)
    st.dataframe(sub.pivot_table(index="category", columns="model", values="value").reset_index(), hide_index=True)
