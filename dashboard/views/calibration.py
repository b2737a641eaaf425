"""Calibration: the reward model's reliability diagrams per signal with each bin's sample count, MAE and ECE per
signal, where every ECE on the dashboard comes from, MC-dropout uncertainty vs error."""

import plotly.graph_objects as go
import streamlit as st
import ui

from saferlhf import dashboard_charts as dc
from saferlhf import dashboard_data as dd

st.title("Reward-model calibration")
ui.provenance("train-reward")
metrics = ui.load("load_reward_metrics")
summary = dd.calibration_summary(metrics)
st.caption(f"Held-out test split ({metrics.test_rows or '?'} rows), one deterministic pass (dropout off). "
           f"Pairwise accuracy {dd.num(metrics.pairwise_accuracy):.3f} over {metrics.pairwise_pairs or '?'} pairs.")
cols = st.columns(len(summary))
for col, row in zip(cols, summary.itertuples()):
    col.metric(f"ECE {row.signal}", f"{row.ece:.4f}", border=True)
cols = st.columns(len(summary))
for col, row in zip(cols, summary.itertuples()):
    col.metric(f"MAE {row.signal}", f"{row.mae:.4f}", border=True)

try:
    results = dd.load_evaluation(ui.layout())
except dd.NotReady:
    results = None
defs = dc.calibration_definitions(metrics, results)
if len(defs) > 1:
    st.markdown("**Every ECE the outputs hold** (they differ because they are measured differently):")
    st.dataframe(defs.round(4), hide_index=True)

curves = dd.reliability_frame(metrics)
small = dc.small_bins(curves)
if not small.empty:
    st.warning("Bins with fewer than 5 samples (their point is noise, not calibration): " + ", ".join(
        f"{r.signal} bin from {r.bin_lower:.2f} (n={r.count})" for r in small.itertuples()))
grid = st.columns(2)
for i, (sig, df) in enumerate(curves.groupby("signal", sort=False)):
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dash", color="grey")),
                     go.Scatter(x=df["mean_pred"], y=df["mean_true"], mode="lines+markers+text", name="model",
                                text=[f"n={c}" for c in df["count"]], textposition="top center",
                                marker=dict(size=[6 + 14 * (c / df["count"].max()) ** 0.5 for c in df["count"]]))])
    ece = summary.set_index("signal").loc[sig, "ece"]
    fig.update_layout(title=f"{sig} (ECE {ece:.4f}, {int(df['count'].sum())} samples in {len(df)} bins)",
                      xaxis_title="mean predicted", yaxis_title="mean label", height=380, margin=dict(t=40, b=10),
                      xaxis_range=[0, 1], yaxis_range=[0, 1.05])
    grid[i % 2].plotly_chart(fig)

st.subheader("Uncertainty vs error (MC dropout)")
unc = metrics.mc_dropout
if unc is None:
    st.info("This reward model was evaluated without MC dropout.")
else:
    c = st.columns(4)
    c[0].metric("passes", unc.passes if unc.passes is not None else "?", border=True)
    c[1].metric("Spearman(uncertainty, |error|)", f"{dd.num(unc.spearman_uncertainty_error):.3f}", border=True)
    c[2].metric("MAE, least uncertain 25%", f"{dd.num(unc.mae_low_uncertainty_quartile):.4f}", border=True)
    c[3].metric("MAE, most uncertain 25%", f"{dd.num(unc.mae_high_uncertainty_quartile):.4f}", border=True)
    grows = unc.uncertainty_grows_with_error
    (st.success if grows else st.warning)(f"Uncertainty {'grows' if grows else 'does not grow'} with error.")
