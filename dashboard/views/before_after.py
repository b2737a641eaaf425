"""Before / After: every sampled base and RL answer to the same held-out prompt, with their scores, refusal,
degenerate-text and off-topic-but-high-reward flags (the reward hacking the reward model cannot see)."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_charts as dc
from saferlhf import dashboard_data as dd
from saferlhf import dashboard_failures as df_
from saferlhf.signals import SIGNALS

PER_PAGE = 10

st.title("Before / After: base vs RL policy")
ui.provenance("evaluate", "probe")
results = ui.load("load_evaluation")
responses = dd.responses_frame(results)
if responses.empty:
    st.info("The evaluation results hold no per-response records. Re-run `saferlhf evaluate`.")
    st.stop()
bar = ui.reference_reward()
flagged = df_.flag_responses(responses, bar)
counts = dc.ordered_models(df_.failure_counts(flagged))
hacks = counts[counts["flag"] == "off-topic, high reward"]
st.caption(f"Split `{results.split or '?'}`, {results.num_prompts or '?'} prompts × "
           f"{results.num_responses_per_prompt or 1} sample(s) per policy. An answer is flagged **off-topic, "
           f"high reward** when it is neither a refusal nor a redirect to urgent help, shares under "
           f"{df_.OFF_TOPIC:.0%} of the prompt's content words and its reward is ≥ {flagged.attrs['reward_bar']:.3f} "
           f"({'the probes’ reference reward' if bar is not None else 'the median reward'}).")
cols = st.columns(len(hacks) or 1)
for col, row in zip(cols, hacks.itertuples()):
    col.metric(f"Off-topic, high-reward answers ({row.model})", f"{row.count} of {row.responses}", border=True,
               help=f"{row.pct:.1f}% of this policy's answers")

left, mid, right = st.columns([1, 1, 2])
categories = sorted(responses["category"].dropna().unique())
category = left.selectbox("Category", ["all", *categories])
order = mid.selectbox("Sort", ["gap", "prompt"], format_func={
    "gap": "reward-vs-relevance gap (largest first)", "prompt": "evaluation order"}.get)
search = right.text_input("Search prompts and responses", placeholder="e.g. password, medication, fiction…")
only = st.checkbox("Only prompts with a flagged answer (off-topic high reward, or degenerate)")
shown = df_.filter_prompts(flagged, None if category == "all" else category, search.strip(), only)
ids = df_.prompt_order(shown, order)
pages = max(1, -(-len(ids) // PER_PAGE))
page = st.number_input(f"Page (of {pages})", 1, pages, 1) if pages > 1 else 1
st.caption(f"{len(ids)} prompts match; showing {PER_PAGE} per page, every sample of each. Scores are the reward "
           "model's.")


def show(col, label: str, samples) -> None:
    col.markdown(f"**{label}** · {len(samples)} sample(s)")
    for s in samples.itertuples():
        flags = [f for f, on in (("refusal", bool(s.refusal)), (f"degenerate: {s.degenerate}", bool(s.degenerate)),
                                 ("⚠ off-topic, high reward", s.off_topic_high_reward)) if on]
        col.markdown(f"sample {s.sample + 1} · reward `{s.reward:.3f}` · relevance `{s.relevance:.2f}`"
                     + (" · " + " · ".join(flags) if flags else ""))
        col.text(str(s.response))
        col.dataframe({sig: [round(float(getattr(s, sig)), 3)] for sig in SIGNALS}, hide_index=True)


for pid in ids[(page - 1) * PER_PAGE: page * PER_PAGE]:
    rows = shown[shown["prompt_id"] == pid]
    with st.container(border=True):
        gap = rows["hack_gap"].max()
        st.markdown(f"**{pid}** · _{rows['category'].iloc[0]}_ · gap " + ("—" if gap != gap else f"`{gap:.2f}`"))
        st.markdown(f"> {rows['prompt'].iloc[0]}")
        c1, c2 = st.columns(2)
        show(c1, "base", rows[rows["model"] == "base_model"])
        show(c2, "RL", rows[rows["model"] == "rl_model"])

st.subheader("Reward distribution (the prompts that match the filters)")
dist = dd.reward_distribution(shown)
st.caption(f"{len(dist)} responses: " + ", ".join(f"{m} {n}" for m, n in dist["model"].value_counts().items()))
fig = px.histogram(dist, x="reward", color="model", barmode="overlay", opacity=0.6, nbins=30,
                   color_discrete_map=ui.PLOT_MODELS, category_orders=ui.MODEL_ORDER,
                   labels={"reward": "combined reward R", "count": "responses"})
st.plotly_chart(fig)
