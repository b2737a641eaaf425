"""Registry: registered models, versions, aliases and gate results; promote / roll back behind a confirmation,
each recorded with a reason (saferlhf.registry.promote does the work and keeps the audit trail)."""

import streamlit as st
import ui

from saferlhf import dashboard_data as dd
from saferlhf import dashboard_live as dl
from saferlhf.errors import UserError

st.title("Model registry")
ui.provenance("train-reward", "evaluate", "probe", "export-onnx")
if (done := st.session_state.pop("registry_result", None)) is not None:
    outcome = done.get("action", "done")
    ok = outcome in ("promoted", "forced", "rollback", "already_champion")
    (st.success if ok else st.warning)(f"{done['model']}: {outcome}. {done.get('reason', '')}")
    with st.expander("Recorded decision"):
        st.json(done)
try:
    versions = ui.registry_versions()
except dd.NotReady as e:
    ui.not_ready(e)
    st.stop()
if versions.empty:
    st.info("The registry holds no model versions yet. Run `saferlhf registry register`.")
    st.stop()
st.caption(f"MLflow registry: `{dl.connect_registry(ui.config().registry, ui.layout())}`")

st.subheader("Champions")
st.dataframe(dl.champions(versions), hide_index=True)

st.subheader("Versions")
model = st.selectbox("Model", sorted(versions["model"].unique()))
mine = versions[versions["model"] == model]
st.dataframe(mine[["version", "aliases", "decision", "reason", "previous_champion", "created"]].assign(
    mlflow_run=mine["run_id"], data_hash=mine["provenance"].map(lambda p: (p or {}).get("data_hash", "")[:12])),
    hide_index=True)
version = st.selectbox("Version", mine["version"].tolist())
row = mine[mine["version"] == version].iloc[0]
gates, metrics = dl.gate_tables(row)
c1, c2 = st.columns(2)
c1.markdown("**Gate results**")
c1.dataframe(gates, hide_index=True)
c2.markdown("**Gate metrics**")
c2.dataframe(metrics, hide_index=True)

st.subheader("Change the champion")
operator = dl.operator_identity()
if operator is None:
    st.info(f"Registry actions are disabled: no operator identity is configured (set {dl.OPERATOR_ENV} for this "
            "dashboard; every change is recorded with it).")
else:
    st.caption(f"Acting as **{operator}** (recorded on the version).")
with st.form("registry_action"):
    action = st.radio("Action", ["promote", "rollback"], horizontal=True,
                      format_func={"promote": f"Promote {model} v{version} to champion",
                                   "rollback": f"Roll {model} back to its previous champion"}.get)
    force = st.checkbox("Override failing gates (forced promotion)")
    reason = st.text_input("Reason (recorded on the version)")
    confirm = st.checkbox("I confirm this change to the production alias")
    submitted = st.form_submit_button("Apply", disabled=operator is None)

if submitted:
    if not confirm:
        st.warning("Tick the confirmation box to apply the change.")
    elif not reason.strip():
        st.warning("Give a reason: every manual change of the champion is recorded with one.")
    else:
        try:
            if action == "promote":
                result = dl.promote_version(ui.config().registry, ui.layout(), model, int(version), reason, force,
                                            operator)
            else:
                result = dl.rollback_model(ui.config().registry, ui.layout(), model, reason, operator)
        except UserError as e:
            st.error(str(e))
        else:  # re-read the registry and show the outcome at the top of the fresh page
            st.session_state["registry_result"] = result
            st.cache_data.clear()
            st.rerun()
