"""Prompt tester: generate with the base and RL policies, score both answers through the scoring endpoint
(or the local reward model when no endpoint answers)."""

import os

import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_live as dl

st.title("Prompt tester")
cfg = ui.config().dashboard
lay = ui.layout()
url = os.environ.get("SAFERLHF_SCORER_URL", cfg.scorer_url or "")
policies = dl.policy_paths(lay)
missing = [m for m in ("base", "rl") if m not in policies]
st.caption(f"Scoring endpoint: `{url or 'none'}` (falls back to the local reward model). "
           f"Policies found: {', '.join(policies) or 'none'}.")
if missing:
    st.info(f"No {' and no '.join(missing)} policy yet (`saferlhf policy init`, `saferlhf policy train-rl`): "
            "type that model's answer yourself to score it.")

with st.form("tester"):
    prompt = st.text_area("Prompt", placeholder="Ask something, e.g. How do I reset a forgotten password?")
    manual = {m: st.text_area(f"{m} answer", key=f"manual_{m}") for m in missing}
    seed = st.number_input("Sampling seed", 0, 2**31 - 1, 42)
    go = st.form_submit_button("Generate and score", type="primary")

if go:
    if not prompt.strip():
        st.warning("Type a prompt first.")
        st.stop()
    answers = {}
    with st.spinner("Generating…"):
        for m in ("base", "rl"):
            if m in policies:
                answers[m] = dl.generate_answer(ui.policy(str(policies[m])), prompt, cfg.sampling, int(seed))
            elif manual.get(m, "").strip():
                answers[m] = manual[m].strip()
    if not answers:
        st.warning("No policy to generate with and no answer typed: nothing to score.")
        st.stop()
    try:
        with st.spinner("Scoring…"):
            scores, source = dl.score_pairs([prompt] * len(answers), list(answers.values()), url,
                                            lambda: ui.local_scorer(str(lay.reward_model)), cfg.scorer_timeout)
    except dd.NotReady as e:
        ui.not_ready(e)
        st.stop()
    st.caption(f"Scored by the {source}.")
    cols = st.columns(len(answers))
    for col, (m, text), (_, row) in zip(cols, answers.items(), scores.iterrows()):
        with col.container(border=True):
            st.markdown(f"**{dd.MODEL_LABELS.get(m + '_model', m)}** answer")
            st.text(text)
            st.metric("reward", f"{row['reward']:.3f}")
            st.dataframe(row.drop("reward").rename("score").round(3).to_frame().T, hide_index=True)
