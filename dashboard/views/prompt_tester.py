"""Prompt tester: N samples per policy (each with its own random seed), every answer scored by the same scorer —
the scoring endpoint, or the local reward model when no endpoint answers (the page says which) — with a refusal
flag per answer and the refusal rate and reward spread per policy. One sample is not evidence."""

import os

import pandas as pd
import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_failures as df_
from saferlhf import dashboard_live as dl
from saferlhf.refusal import is_refusal

st.title("Prompt tester")
ui.provenance("init-policy", "train-rl", "train-reward")
cfg = ui.config().dashboard
lay = ui.layout()
url = os.environ.get("SAFERLHF_SCORER_URL", cfg.scorer_url or "")
policies = dl.policy_paths(lay)
missing = [m for m in ("base", "rl") if m not in policies]
st.caption(f"Scoring endpoint: `{url or 'none'}` (falls back to the local reward model). "
           f"Policies found: {', '.join(policies) or 'none'}. Sampling: temperature {cfg.sampling.temperature}, "
           f"top-k {cfg.sampling.top_k}, top-p {cfg.sampling.top_p}, up to {cfg.sampling.max_new_tokens} new tokens.")
if missing:
    st.info(f"No {' and no '.join(missing)} policy yet (`saferlhf policy init`, `saferlhf policy train-rl`): "
            "type that model's answer yourself to score it.")

with st.form("tester"):
    prompt = st.text_area("Prompt", placeholder="Ask something, e.g. How do I reset a forgotten password?")
    manual = {m: st.text_area(f"{m} answer", key=f"manual_{m}") for m in missing}
    n = st.number_input("Samples per policy", 1, 32, 4, help="each sample draws its own random seed (shown)")
    go = st.form_submit_button("Generate and score", type="primary")

if go:
    if not prompt.strip():
        st.warning("Type a prompt first.")
        st.stop()
    rows = []
    with st.spinner("Generating…"):
        for m in ("base", "rl"):
            if m in policies:
                for seed in df_.sample_seeds(int(n)):
                    rows.append({"policy": m, "seed": seed, "answer": dl.generate_answer(
                        ui.policy(str(policies[m])), prompt, cfg.sampling, seed)})
            elif manual.get(m, "").strip():
                rows.append({"policy": m, "seed": None, "answer": manual[m].strip()})
    if not rows:
        st.warning("No policy to generate with and no answer typed: nothing to score.")
        st.stop()
    samples = pd.DataFrame(rows, dtype=object)  # object: a typed answer's seed stays None, others stay int
    try:
        with st.spinner("Scoring…"):
            scores, source = dl.score_pairs([prompt] * len(samples), samples["answer"].tolist(), url,
                                            lambda: ui.local_scorer(str(lay.reward_model)), cfg.scorer_timeout)
    except dd.NotReady as e:
        ui.not_ready(e)
        st.stop()
    samples = pd.concat([samples, scores], axis=1)
    samples["refusal"] = samples["answer"].map(is_refusal)
    samples["policy"] = samples["policy"].map({"base": "base", "rl": "RL"})
    st.caption(f"Every answer scored by the {source}.")
    st.subheader("Per policy")
    st.dataframe(df_.sample_summary(samples).round(3), hide_index=True)
    cols = st.columns(samples["policy"].nunique())
    for col, (m, group) in zip(cols, samples.groupby("policy", sort=False)):
        col.markdown(f"**{m}** · {len(group)} sample(s)")
        for s in group.itertuples():
            with col.container(border=True):
                seed = "typed answer" if s.seed is None else f"seed `{s.seed}`"
                st.markdown(f"{seed} · reward `{s.reward:.3f}`" + (" · **refusal**" if s.refusal else ""))
                st.text(s.answer)
                st.dataframe(pd.DataFrame([{k: round(getattr(s, k), 3) for k in
                                            ("safety", "toxicity", "hallucination_risk", "compliance")}]),
                             hide_index=True)
