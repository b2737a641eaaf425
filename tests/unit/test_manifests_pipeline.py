"""Kubernetes manifests, network and pipeline side: default-deny NetworkPolicies that open servers narrowly, least-
privilege RBAC, and the pipeline (Kubeflow profile) namespace: step pods find MLflow through the ConfigMap, MLflow
admits them, the monitor pipeline mounts the volume the scorer writes. Rendered and read as in test_manifests.py."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from tests.unit.manifest_render import (  # noqa: F401 (rendered is a fixture)
    K8S_VERSIONS, KFP_STEP_PODS, OVERLAYS, PIPELINE_NAMESPACE, PIPELINE_NAMESPACE_LABEL, arg_after, by_kind,
    one, pod_specs, rendered,
)


# ------------------------------------------------------------------------------------------ network and RBAC


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_default_deny_and_open_servers_narrowly(rendered, overlay):
    objs = rendered[overlay]
    policies = by_kind(objs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"], "a default-deny ingress policy"
    for svc in by_kind(objs, "Service"):
        sel = svc["spec"]["selector"]
        covering = [p for p in policies if p["spec"]["podSelector"].get("matchLabels", {}).items() <= sel.items()
                    and p["spec"]["podSelector"] != {}]
        assert covering, f"no NetworkPolicy admits traffic to {svc['metadata']['name']}"
        for pol in covering:
            for rule in pol["spec"]["ingress"]:
                assert rule.get("from"), f"{pol['metadata']['name']}: a rule without `from` admits everyone"
                assert {p["port"] for p in rule["ports"]} <= {p["port"] for p in svc["spec"]["ports"]}
                for peer in rule["from"]:
                    assert "ipBlock" not in peer
                    ns = peer.get("namespaceSelector")
                    # a namespace by its immutable name, or by the pipeline label but then only its KFP step pods
                    assert ns is None or set(ns["matchLabels"]) == {"kubernetes.io/metadata.name"} or (
                        ns["matchLabels"] == PIPELINE_NAMESPACE_LABEL and peer["podSelector"] == KFP_STEP_PODS), peer


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pipeline_service_account_has_least_privilege(rendered, overlay):
    objs = rendered[overlay]
    role = one(objs, "Role", "saferlhf-pipeline-runner")
    assert not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding")
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard {field} in {rule}"
        assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])
        if {"secrets", "configmaps"} & set(rule["resources"]):
            assert rule.get("resourceNames") and rule["verbs"] == ["get"], f"unscoped read of {rule['resources']}"
    binding = one(objs, "RoleBinding", "saferlhf-pipeline-runner")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    ns = one(objs, "Namespace", "saferlhf")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "saferlhf-pipeline-runner", "namespace": ns}]
    one(objs, "ServiceAccount", "saferlhf-pipeline-runner")
    # Every other workload runs without an API token.
    for label, spec in pod_specs(objs):
        assert spec.get("automountServiceAccountToken") is False, f"{label}: mounts an API token it never uses"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_enforces_restricted_pod_security(rendered, overlay):
    (ns,) = by_kind(rendered[overlay], "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(o["metadata"].get("namespace") == ns["metadata"]["name"]
               for o in rendered[overlay] if o["kind"] != "Namespace")


# ------------------------------------------------------------------------------------------ pipeline runs


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pipeline_namespace_objects_are_valid_kubernetes(rendered, version):
    objs = rendered["pipeline-namespace"]
    assert {o["kind"] for o in objs} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}
    for obj in objs:
        kubernetes_validate.validate(obj, version, strict=True)


def _mlflow_hosts(objs: list[dict], namespace: str) -> set[str]:
    (c,) = one(objs, "Deployment", "saferlhf-mlflow")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
    hosts = arg_after(c, "--allowed-hosts").replace("$(POD_NAMESPACE)", namespace)
    return set(re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), ""), hosts).split(","))


@pytest.mark.parametrize("overlay", OVERLAYS + ("pipeline-namespace",))
def test_pipeline_steps_find_mlflow_through_the_configmap(rendered, overlay):
    """The ConfigMap the compiled steps read (saferlhf.pipeline.platform's name and keys) exists where the runs go,
    and its URI names the MLflow Service, a port it serves and a Host header the server accepts."""
    from urllib.parse import urlsplit

    from saferlhf.pipeline import platform

    cm = one(rendered[overlay], "ConfigMap", platform.CONFIG_MAP)
    assert cm["metadata"]["name"] == platform.CONFIG_MAP and set(cm["data"]) <= set(platform.CONFIG_MAP_ENV)
    uri = urlsplit(cm["data"]["mlflow-tracking-uri"])
    app = rendered["production" if overlay == "pipeline-namespace" else overlay]  # where MLflow runs
    app_ns = one(app, "Namespace", "saferlhf")["metadata"]["name"]
    svc = one(app, "Service", "saferlhf-mlflow")
    service, _, namespace = uri.hostname.partition(".")
    assert service == svc["metadata"]["name"] and uri.port in {p["port"] for p in svc["spec"]["ports"]}
    if overlay == "pipeline-namespace":  # another namespace: the Service's namespace must be in the name
        assert namespace.removesuffix(".svc") == app_ns, uri.hostname
    assert uri.netloc in _mlflow_hosts(app, app_ns), f"{uri.netloc} is not in MLflow's --allowed-hosts"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_admits_kfp_step_pods_of_labelled_namespaces(rendered, overlay):
    pol = one(rendered[overlay], "NetworkPolicy", "saferlhf-mlflow")
    peers = [p for rule in pol["spec"]["ingress"] for p in rule["from"]]
    labelled = [p for p in peers if p.get("namespaceSelector", {}).get("matchLabels") == PIPELINE_NAMESPACE_LABEL]
    assert labelled and all(p["podSelector"] == KFP_STEP_PODS for p in labelled)
    # the label the pipeline-namespace overlay tells its user to set is the one admitted
    key, value = next(iter(PIPELINE_NAMESPACE_LABEL.items()))
    assert f"{key}={value}" in (PIPELINE_NAMESPACE / "kustomization.yaml").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitor_pipeline_mounts_the_volume_the_scorer_writes(rendered, overlay):
    from saferlhf.pipeline import platform

    scorer = one(rendered[overlay], "Deployment", "saferlhf-scorer")["spec"]["template"]["spec"]
    (c,) = scorer["containers"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in scorer["volumes"]
              if "persistentVolumeClaim" in v}
    mount = next(m for m in c["volumeMounts"] if m["name"] in claims)
    assert claims[mount["name"]] == platform.PREDICTION_LOG_PVC
    assert mount["mountPath"] == arg_after(c, "--log-dir") == platform.PREDICTION_LOG_MOUNT
    assert scorer["securityContext"]["runAsUser"] == platform.RUN_AS_USER  # same owner as the monitor step


@pytest.mark.parametrize("overlay", OVERLAYS + ("pipeline-namespace",))
def test_pipeline_runner_needs_no_read_of_the_step_env(rendered, overlay):
    """Env from ConfigMap/Secret and PVC mounts are resolved by the kubelet: the runner's Role grants neither."""
    from saferlhf.pipeline import platform

    role = one(rendered[overlay], "Role", "saferlhf-pipeline-runner")
    named = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert not {platform.CONFIG_MAP, platform.SECRET, platform.PREDICTION_LOG_PVC} & named
    assert not any("persistentvolumeclaims" in rule["resources"] for rule in role["rules"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_trainjob_nodes_reach_each_other_and_only_each_other(rendered, overlay):
    """Under the default-deny policy, a multi-node TrainJob's nodes must reach each other (rendezvous, NCCL on run-
    time ports): one policy admits pods with the label the TrainJob body puts on its node pods, from those alone."""
    from saferlhf.trainjob import NODE_LABEL, trainjob_body

    pol = one(rendered[overlay], "NetworkPolicy", "saferlhf-trainjob-nodes")
    selector = {NODE_LABEL: "true"}
    assert pol["spec"]["podSelector"] == {"matchLabels": selector}
    assert pol["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": selector}}]}]
    body = trainjob_body("train-rl", "x", "img", "/s/c.yaml", "/s", num_nodes=2, pvc="rwx", mount_path="/s")
    pod = body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    assert pod["template"]["spec"]["template"]["metadata"]["labels"] == selector


@pytest.mark.parametrize("overlay", OVERLAYS + ("pipeline-namespace",))
def test_pipeline_runner_may_launch_trainjobs_where_it_runs(rendered, overlay):
    """The TrainJob goes to the step's own namespace (beside the PVC): the launcher's Role is bound to the runner
    there, in the app's namespace and in a profile namespace alike."""
    role = one(rendered[overlay], "Role", "saferlhf-trainjob-launcher")
    binding = one(rendered[overlay], "RoleBinding", "saferlhf-trainjob-launcher")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (subject,) = binding["subjects"]
    assert subject["name"] == "saferlhf-pipeline-runner"
    runner = one(rendered[overlay], "ServiceAccount", "saferlhf-pipeline-runner")
    assert subject["namespace"] == runner["metadata"]["namespace"]
