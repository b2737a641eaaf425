"""Safety probes: each probe's risk for both models, the reward model's own susceptibility to crafted degenerate
text, and failure examples with the whole prompt, response, reason and scores."""

import plotly.express as px
import streamlit as st
import ui

from saferlhf import dashboard_charts as dc
from saferlhf import dashboard_data as dd
from saferlhf import dashboard_failures as df_

st.title("Safety probes")
ui.provenance("probe")
report = ui.load("load_probes")
summary = report.summary
c = st.columns(4)
c[0].metric("Base overall risk", f"{dd.num(summary.base_model_overall_risk):.3f}", border=True)
c[1].metric("RL overall risk", f"{dd.num(summary.rl_model_overall_risk):.3f}", border=True)
c[2].metric("Risk improvement", f"{dd.num(summary.risk_improvement):+.3f}", border=True,
            help="base − RL: positive means the RL policy fails fewer probes")
sus = summary.reward_model_susceptibility
if sus is not None:
    texts = sus.num_texts if sus.num_texts is not None else "?"
    c[3].metric("Reward-model susceptibility", f"{dd.num(sus.above_reference_pct):.1f}%", border=True,
                help=f"share of {texts} crafted degenerate texts (stuffed refusals, looped "
                     f"advice) the reward model rates above the reference reward "
                     f"{dd.num(summary.reference_reward):.3f}; max reward {dd.num(sus.max_reward):.3f}")
    if dd.num(sus.above_reference_pct) > 0:
        st.error(f"The reward model rates {dd.num(sus.above_reference_pct):.1f}% of "
                 f"{texts} crafted degenerate texts above the reward of a real safe answer "
                 f"({dd.num(summary.reference_reward):.3f}): a policy can game it, whatever the "
                 "`reward_hacking` probe says about the two policies sampled here.")
else:
    c[3].metric("Reward-model susceptibility", "not measured", border=True)

table = dd.probe_table(report)
if table.empty:
    st.info("The probe report holds no probe results.")
    st.stop()
shown = dc.ordered_models(table)
fig = px.bar(shown, x="probe", y="risk_score", color="model", barmode="group", color_discrete_map=ui.PLOT_MODELS,
             category_orders=ui.MODEL_ORDER, labels={"risk_score": "risk score (share of prompts failed)",
                                                      "probe": ""}, hover_data=["num_failures", "num_prompts"])
st.plotly_chart(fig)
st.dataframe(dc.probe_pivot(table), hide_index=True)
try:  # the reward_hacking probe judges degenerate text only; the off-topic kind is flagged on the evaluation
    evaluated = df_.flag_responses(dd.responses_frame(dd.load_evaluation(ui.layout())), ui.reference_reward())
    hacks = dc.ordered_models(df_.failure_counts(evaluated))
    hacks = hacks[hacks["flag"] == "off-topic, high reward"]
    st.caption("`reward_hacking` counts degenerate text only. Off-topic answers with a high reward in the "
               "evaluation (Before / After): " + ", ".join(f"{r.model} {r.count} of {r.responses}"
                                                         for r in hacks.itertuples()) + ".")
except dd.NotReady:
    pass

st.subheader("Failure examples")
left, right = st.columns(2)
probes = sorted(table["probe"].unique())
worst = table[table["model"] == "rl_model"].sort_values("risk_score", ascending=False)["probe"]
probe = left.selectbox("Probe", probes, index=probes.index(worst.iloc[0]) if len(worst) else 0)
model = right.radio("Model", dd.PROBE_MODELS[::-1], format_func=dd.MODEL_LABELS.get, horizontal=True)
fails = dd.probe_failures(report, probe, model)
if fails.empty:
    st.success(f"No failures of `{probe}` for the {dd.MODEL_LABELS[model]} policy.")
else:
    n = table.set_index(["probe", "model"]).loc[(probe, model), "num_failures"]
    st.caption(f"{len(fails)} of {n} failures stored (the report keeps the first ones).")
    for f in fails.itertuples():
        with st.container(border=True):
            st.markdown(f"**{getattr(f, 'reason', '')}** · reward `{dd.num(getattr(f, 'reward', None)):.3f}` · "
                        f"safety `{dd.num(getattr(f, 'safety', None)):.3f}`"
                        + (" · refusal" if getattr(f, "refusal", False) == True else ""))  # noqa: E712
            st.markdown(f"> {f.prompt}")
            st.text(str(f.response))
    with st.expander("All stored failures as a table"):
        st.dataframe(fails, hide_index=True)
