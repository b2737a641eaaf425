"""Benchmarks: base vs RL policy on external safety benchmarks (`saferlhf benchmark`): the gate, per benchmark a
judge x metric table with 95% CIs and the RL − base difference, judge agreement, the report's plots."""

from pathlib import Path

import streamlit as st
import ui

from saferlhf import dashboard_benchmarks as db

st.title("External safety benchmarks")
ui.provenance("benchmark")
report = ui.load("load_benchmarks")
st.caption(db.settings_line(report))
if report.gate.passed:
    st.success(f"**Gate passed**: RL is not worse than base beyond the 95% CI on any of the "
               f"{len(report.benchmarks)} benchmark(s).")
else:
    st.error(f"**Gate failed**: {len(report.gate.regressions)} regression(s), RL worse than base beyond the 95% CI:"
             "\n\n" + "\n".join(f"- {line}" for line in db.regression_lines(report)))

st.caption("RL − base: red where RL is worse (more attack success or over-refusal), green where it is better; bold "
           "where the 95% CI excludes 0.")

for bench in report.benchmarks:
    st.subheader(bench.name)
    st.caption(f"`{bench.path}` ({bench.format}): {bench.n_prompts} prompts, {bench.n_should_refuse} should be "
               f"refused (attack success), {bench.n_should_answer} should be answered (over-refusal).")
    if bench.in_training_data:
        st.warning(f"{bench.in_training_data} of {bench.n_prompts} prompts of {bench.name} are also in the generated "
                   "training dataset: its figures are not held out.")
    table = db.benchmark_table(bench)
    if table.empty:
        st.info(f"No judged results for {bench.name}.")
        continue
    st.dataframe(db.styled(table), hide_index=True)
    agreement = db.agreement_table(bench)
    if not agreement.empty:
        st.caption("Judge agreement on the bad outcome (share of items both judged alike, Cohen's kappa):")
        st.dataframe(agreement, hide_index=True)

if report.plots:
    st.subheader("Plots")
    for path in report.plots:
        if Path(path).is_file():
            st.image(path, caption=Path(path).name)
        else:
            st.caption(f"Plot `{path}` is missing.")
