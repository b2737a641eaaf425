"""Before / After: base and RL answers to the same held-out prompt, side by side, with their scores."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf.signals import SIGNALS

PER_PAGE = 10

st.title("Before / After: base vs RL policy")
results = ui.load("load_evaluation")
responses = dd.responses_frame(results)
if responses.empty:
    st.info("The evaluation results hold no per-response records. Re-run `saferlhf evaluate`.")
    st.stop()

left, right = st.columns([1, 2])
categories = sorted(responses["category"].dropna().unique())
category = left.selectbox("Category", ["all", *categories])
search = right.text_input("Search prompts and responses", placeholder="e.g. password, medication, fiction…")
wide = dd.side_by_side(responses, None if category == "all" else category, search.strip())
pages = max(1, -(-len(wide) // PER_PAGE))
page = st.number_input(f"Page (of {pages})", 1, pages, 1) if pages > 1 else 1
st.caption(f"{len(wide)} prompts match; showing {PER_PAGE} per page. Scores are the reward model's.")


def show(col, model: str, row) -> None:
    refused = " · refusal" if row.get(f"refusal_{model}") is True else ""
    col.markdown(f"**{model}** · reward `{row.get(f'reward_{model}', float('nan')):.3f}`{refused}")
    col.text(str(row.get(f"response_{model}", "")))
    col.dataframe({s: [round(float(row.get(f"{s}_{model}", float("nan"))), 3)] for s in SIGNALS}, hide_index=True)


for _, row in wide.iloc[(page - 1) * PER_PAGE: page * PER_PAGE].iterrows():
    with st.container(border=True):
        st.markdown(f"**{row['prompt_id']}** · _{row['category']}_")
        st.markdown(f"> {row['prompt']}")
        c1, c2 = st.columns(2)
        show(c1, "base", row)
        show(c2, "RL", row)

st.subheader("Reward distribution")
dist = dd.reward_distribution(responses if category == "all" else responses[responses["category"] == category])
fig = px.histogram(dist, x="reward", color="model", barmode="overlay", opacity=0.6, nbins=30,
                   color_discrete_map=ui.PLOT_MODELS, labels={"reward": "combined reward R"})
st.plotly_chart(fig)
