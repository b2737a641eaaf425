"""Launch a TrainJob from a pipeline step over the Kubernetes REST API, wait for it, keep its logs, fail with
its reason.

Why the REST API and not the `kubeflow` SDK's TrainerClient: the SDK is not in this project's lock, and the
launcher needs only five calls, each listed in manifests/pipeline/trainjob-rbac.yaml (the Role allows exactly these):
create/get/delete `trainjobs`, list `pods` (the job's node-0 pod), get `pods/log`. In a pod it authenticates
with the service account's token and CA (`from_cluster`). Bounded: every wait has a deadline."""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from saferlhf.errors import UserError
from saferlhf.trainjob import API_VERSION, PLURAL

log = logging.getLogger(__name__)

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Trainer v2 runs a TrainJob as a JobSet of the same name; its pods carry this label
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"


@dataclass
class TrainJobOutcome:
    name: str
    succeeded: bool
    reason: str
    message: str
    logs: str = ""
    conditions: list = field(default_factory=list)


class KubeAPI:
    """The few Kubernetes API calls the launcher makes (JSON over HTTPS, bearer token)."""

    def __init__(self, server: str, token: str | None = None, ca_file: str | None = None, timeout: float = 10.0):
        self.server, self.token, self.timeout = server.rstrip("/"), token, timeout
        self.ctx = ssl.create_default_context(cafile=ca_file) if server.startswith("https") else None

    @classmethod
    def from_cluster(cls) -> KubeAPI:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (SA_DIR / "token").is_file():
            raise UserError("not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST or service-account token); "
                            "pass the API server URL instead")
        return cls(f"https://{host}:{port}", (SA_DIR / "token").read_text().strip(), str(SA_DIR / "ca.crt"))

    def call(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        req = urllib.request.Request(self.server + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Accept", "*/*" if raw else "application/json")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as r:
                data = r.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except ValueError:
                pass
            raise UserError(f"Kubernetes API {method} {path}: HTTP {e.code} {detail[:300]}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"Kubernetes API {self.server} unreachable ({reason})") from None
        return data if raw else json.loads(data or "{}")


def pod_namespace() -> str:
    """The namespace of the pod this runs in (its service account's mount): where its PVCs, and so its TrainJobs,
    are."""
    path = SA_DIR / "namespace"
    if not path.is_file():
        raise UserError(f"not in a Kubernetes pod (no {path}); name the TrainJob's namespace")
    return path.read_text().strip()


def _jobs_path(namespace: str, name: str = "") -> str:
    return f"/apis/{API_VERSION}/namespaces/{namespace}/{PLURAL}" + (f"/{name}" if name else "")


def finished(job: dict) -> tuple[bool, bool, str, str] | None:
    """(done, succeeded, reason, message) from a TrainJob's `Complete`/`Failed` conditions; None while running."""
    for c in job.get("status", {}).get("conditions", []) or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return True, c["type"] == "Complete", c.get("reason", ""), c.get("message", "")
    return None


def node0_logs(api: KubeAPI, namespace: str, name: str) -> str:
    """The logs of the job's first pod (node rank 0 writes every artifact); empty when none is left."""
    sel = urllib.parse.quote(f"{JOBSET_LABEL}={name}")
    pods = api.call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={sel}").get("items", [])
    if not pods:
        return ""
    first = sorted(p["metadata"]["name"] for p in pods)[0]
    return api.call("GET", f"/api/v1/namespaces/{namespace}/pods/{first}/log", raw=True)


def run_trainjob(api: KubeAPI, body: dict, namespace: str, *, poll_s: float = 5.0, timeout_s: float = 24 * 3600,
                 keep: bool = False, log_file: Path | None = None) -> TrainJobOutcome:
    """Create the TrainJob, poll its status until Complete/Failed (or `timeout_s`), save node 0's logs, delete
    the job unless `keep`; raise UserError with the job's reason when it failed."""
    name = body["metadata"]["name"]
    api.call("POST", _jobs_path(namespace), body)
    log.info("trainjob %s/%s created (%d nodes)", namespace, name, body["spec"]["trainer"]["numNodes"])
    deadline, job, state = time.monotonic() + timeout_s, {}, None
    try:
        while state is None:
            job = api.call("GET", _jobs_path(namespace, name))
            state = finished(job)
            if state is None:
                if time.monotonic() > deadline:
                    state = (True, False, "Timeout", f"not finished after {timeout_s:.0f} s")
                    break
                time.sleep(poll_s)
        logs = node0_logs(api, namespace, name)
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.write_text(logs)
    finally:
        if not keep:
            try:
                api.call("DELETE", _jobs_path(namespace, name))
            except UserError as e:  # never hide the error that got us here behind a failed clean-up
                log.warning("trainjob %s/%s not deleted: %s", namespace, name, e)
    _, ok, reason, message = state
    outcome = TrainJobOutcome(name, ok, reason, message, logs, job.get("status", {}).get("conditions", []))
    if not ok:
        raise UserError(f"TrainJob {namespace}/{name} failed: {reason}: {message}")
    log.info("trainjob %s/%s complete (%s)", namespace, name, reason or "ok")
    return outcome
