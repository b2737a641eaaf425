"""Drift: the latest Evidently report, the drift history over time, pass/fail per monitor run."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf.signals import SIGNALS

st.title("Safety drift")
ui.provenance("monitor-drift", "export-onnx")
html, hist = ui.load("load_drift")
if hist.empty:
    st.info("No monitor run recorded in the drift history yet.")
else:
    last = hist.iloc[-1]
    c = st.columns(4)
    c[0].metric("Latest run", "PASS" if last.get("passed") else "FAIL", border=True)
    c[1].metric("Drifted share", f"{float(last.get('drift_share', float('nan'))):.2f}", border=True)
    c[2].metric("Unsafe rate", f"{float(last.get('unsafe_rate', float('nan'))):.3f}", border=True)
    c[3].metric("Runs", len(hist), border=True)
    if not last.get("passed"):
        st.error(f"Drift detected: {last.get('drifted_columns') or '—'}; failed tests: {last.get('failed_tests') or '—'}")

    st.subheader("History")
    score_cols = [f"{s}_score" for s in (*SIGNALS, "reward") if f"{s}_score" in hist]
    y = [c for c in ("drift_share", "unsafe_rate") if c in hist] + score_cols
    if "time" in hist and y:
        fig = px.line(hist, x="time", y=y, markers=True, title="Drift share, unsafe rate and per-column drift scores")
        fig.update_layout(legend_title_text="", height=360, margin=dict(t=40, b=10))
        st.plotly_chart(fig)
    shown = [c for c in ("time", "passed", "records", "window", "drift_share", "drifted_columns", "unsafe_rate",
                         "failed_tests", "model_versions") if c in hist]
    st.dataframe(hist[shown].iloc[::-1], hide_index=True,
                 column_config={"passed": st.column_config.CheckboxColumn("pass")})

st.subheader("Latest Evidently report")
st.iframe(html, height=900, alt="Latest Evidently drift report")
