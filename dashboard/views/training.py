"""Training: one RL run per step — reward, each signal, the rule-based over-refusal and degenerate rates, KL
against its target band, β, λ and the safety cost (Lagrangian runs only), entropy, length; and every RL run under
models/ overlaid for comparison."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_charts as dc
from saferlhf import dashboard_data as dd
from saferlhf.signals import SIGNALS

st.title("RL training")
ui.provenance("train-rl")
cfg = ui.config()
runs = dc.rl_runs(ui.layout())
if not runs:
    stats = ui.load("load_training_stats")  # says what to run
names = list(runs)
name = st.selectbox("RL run", names, format_func=lambda n: f"{n} ({runs[n]['objective']} objective)")
run = runs[name]
try:
    stats = dc.load_run_stats(run["path"])
except dd.NotReady as e:
    ui.not_ready(e)
    st.stop()
lagrangian = run["objective"] == "lagrangian"
st.caption(f"`{run['path']}` · objective **{run['objective']}** · {len(stats)} logged steps. "
           + ("" if lagrangian else "λ and the safety cost belong to the Lagrangian objective and are not drawn."))
last = stats.iloc[-1]
keys = [k for k in ("reward", "kl", "beta", "lambda", "over_refusal", "degenerate") if k in stats
        and (lagrangian or k != "lambda")]
labels = {"reward": "reward", "kl": "KL", "beta": "β", "lambda": "λ", "over_refusal": "over-refusal",
          "degenerate": "degenerate"}
cols = st.columns(4)
for i, key in enumerate(keys):
    cols[i % 4].metric(f"{labels[key]} (step {int(last['step'])})", f"{last[key]:.4g}", border=True)


def line(columns: list[str], title: str, **kw):
    have = [c for c in columns if c in stats and stats[c].notna().any()]
    if not have:
        return None
    fig = px.line(stats, x="step", y=have, title=title, **kw)
    fig.update_layout(legend_title_text="", height=340, margin=dict(t=40, b=10))
    return fig


target = run["target_kl"] if isinstance(run["target_kl"], (int, float)) else cfg.rl.target_kl
lo, hi = dd.kl_band(target, cfg.dashboard.kl_tolerance)
figs = [line(["reward"], "Combined reward"), line(list(SIGNALS), "Reward-model signals (batch mean)"),
        line(["over_refusal", "degenerate"], "Rule flags: share of completions over-refusing / degenerate",
             labels={"value": "share of completions"})]
kl = line(["kl"], f"KL to the reference (target {target:g}, band {lo:.3g}–{hi:.3g})")
if kl:
    kl.add_hrect(y0=lo, y1=hi, fillcolor="green", opacity=0.12, line_width=0)
    kl.add_hline(y=target, line_dash="dash", line_color="green")
figs += [kl, line(["beta"], "KL coefficient β")]
if lagrangian:
    figs += [line(["lambda"], "Lagrange multiplier λ"), line(["cost"], "Safety cost")]
figs += [line(["entropy"], "Policy entropy"), line(["completion_length"], "Completion length (tokens)")]
grid = st.columns(2)
for i, fig in enumerate(f for f in figs if f is not None):
    grid[i % 2].plotly_chart(fig, key=f"train_{i}")

if len(runs) > 1:
    st.subheader("Compare RL runs")
    chosen = st.multiselect("Runs", names, default=names)
    frames = {n: dc.load_run_stats(runs[n]["path"]) for n in chosen}
    metric = st.selectbox("Metric", [c for c in ("reward", "kl", "over_refusal", "degenerate", *SIGNALS, "entropy")
                                     if any(c in f for f in frames.values())])
    fig = px.line(dc.runs_long(frames, metric), x="step", y="value", color="run", labels={"value": metric})
    fig.update_layout(height=360, margin=dict(t=20, b=10))
    st.plotly_chart(fig, key="compare")

with st.expander("Per-step table"):
    st.dataframe(stats, hide_index=True)
