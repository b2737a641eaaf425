"""Training: the RL run per step — reward, each signal, KL against its target band, β, λ, entropy, length."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf.signals import SIGNALS

st.title("RL training")
stats = ui.load("load_training_stats")
cfg = ui.config()
last = stats.iloc[-1]
cols = st.columns(4)
for col, key, label in zip(cols, ("reward", "kl", "beta", "lambda"), ("reward", "KL", "β", "λ")):
    if key in stats:
        col.metric(f"{label} (step {int(last['step'])})", f"{last[key]:.4g}", border=True)


def line(columns: list[str], title: str, **kw):
    have = [c for c in columns if c in stats and stats[c].notna().any()]
    if not have:
        return None
    fig = px.line(stats, x="step", y=have, title=title, **kw)
    fig.update_layout(legend_title_text="", height=340, margin=dict(t=40, b=10))
    return fig


c1, c2 = st.columns(2)
fig = line(["reward"], "Combined reward")
if fig:
    c1.plotly_chart(fig)
fig = line(list(SIGNALS), "Reward-model signals (batch mean)")
if fig:
    c2.plotly_chart(fig)

target = dd.run_target_kl(ui.layout(), cfg.rl.target_kl)
lo, hi = dd.kl_band(target, cfg.dashboard.kl_tolerance)
fig = line(["kl"], f"KL to the reference (target {target:g}, band {lo:.3g}–{hi:.3g})")
if fig:
    fig.add_hrect(y0=lo, y1=hi, fillcolor="green", opacity=0.12, line_width=0)
    fig.add_hline(y=target, line_dash="dash", line_color="green")
    c1.plotly_chart(fig)
fig = line(["beta", "lambda"], "KL coefficient β and Lagrange multiplier λ")
if fig:
    c2.plotly_chart(fig)
fig = line(["entropy"], "Policy entropy")
if fig:
    c1.plotly_chart(fig)
fig = line(["completion_length"], "Completion length (tokens)")
if fig:
    c2.plotly_chart(fig)
fig = line(["cost"], "Safety cost (Lagrangian mode)")
if fig:
    c1.plotly_chart(fig)

with st.expander("Per-step table"):
    st.dataframe(stats, hide_index=True)
