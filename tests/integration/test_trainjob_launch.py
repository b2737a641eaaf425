"""CONTRACT TEST of the TrainJob launcher against a loopback HTTP server that speaks the Kubernetes API paths the
launcher calls (create/get/delete trainjobs, list pods by the JobSet label, get pods/log). The server is a fake:
no Kubernetes API server can run here. It checks the request shapes (method, path, body) and answers as the API
server does; the calls it saw are compared with the Role in manifests/base/trainjob-rbac.yaml."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from saferlhf.errors import UserError
from saferlhf.trainjob import trainjob_body
from saferlhf.trainjob_launch import KubeAPI, run_trainjob

pytestmark = pytest.mark.contract
REPO = Path(__file__).resolve().parents[2]
JOBS = re.compile(r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/(?P<ns>[^/]+)/trainjobs(?:/(?P<name>[^/?]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")


class FakeKube:
    """One namespace's TrainJobs; a job reports `outcome` after `polls` GETs."""

    def __init__(self, outcome: str, polls: int = 1):
        self.outcome, self.polls, self.jobs, self.calls, self.gets = outcome, polls, {}, [], 0

    def handle(self, method: str, url: str, body: dict | None) -> tuple[int, object]:
        path, _, query = url.partition("?")
        if m := JOBS.match(path):
            if method == "POST" and not m["name"]:
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "create"))
                assert body["kind"] == "TrainJob" and body["metadata"]["name"]
                self.jobs[body["metadata"]["name"]] = body
                return 201, body
            job = self.jobs.get(m["name"])
            if job is None:
                return 404, {"kind": "Status", "message": f'trainjobs "{m["name"]}" not found'}
            if method == "GET":
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "get"))
                self.gets += 1
                if self.gets > self.polls:
                    failed = self.outcome == "Failed"
                    job = {**job, "status": {"conditions": [{
                        "type": self.outcome, "status": "True", "lastTransitionTime": "2026-12-01T00:00:00Z",
                        "reason": "BackoffLimitExceeded" if failed else "JobsCompleted",
                        "message": "node 0 exited with code 1" if failed else "jobs completed"}]}}
                return 200, job
            if method == "DELETE":
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "delete"))
                del self.jobs[m["name"]]
                return 200, {"kind": "Status", "status": "Success"}
        if PODS.match(path) and method == "GET":
            self.calls.append(("", "pods", "list"))
            sel = urllib.parse.parse_qs(query)["labelSelector"][0]
            name = sel.split("=", 1)[1]
            return 200, {"items": [{"metadata": {"name": f"{name}-node-0-0-abc"}},
                                   {"metadata": {"name": f"{name}-node-1-0-def"}}]}
        if (m := LOG.match(path)) and method == "GET":
            self.calls.append(("", "pods/log", "get"))
            return 200, f"log of {m['pod']}\nrl step 5 done\n"
        return 404, {"kind": "Status", "message": f"no route {method} {path}"}


@pytest.fixture
def kube(request):
    fake = FakeKube(request.param)

    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            assert self.headers.get("Authorization") == "Bearer t0ken"
            code, out = fake.handle(self.command, self.path, body)
            data = out.encode() if isinstance(out, str) else json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(out, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _do

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake, KubeAPI(f"http://127.0.0.1:{server.server_address[1]}", token="t0ken", timeout=5)
    server.shutdown()
    server.server_close()


def _body():
    return trainjob_body("train-rl", "saferlhf-rl-1", "saferlhf:gpu", "/cfg/c.yaml", "/outputs", num_nodes=2,
                         gpus_per_node=1)


def _role_rules() -> set[tuple[str, str, str]]:
    docs = list(yaml.safe_load_all((REPO / "manifests" / "base" / "trainjob-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


@pytest.mark.parametrize("kube", ["Complete"], indirect=True)
def test_success_waits_keeps_node0_logs_and_deletes(kube, tmp_path):
    fake, api = kube
    out = run_trainjob(api, _body(), "ml", poll_s=0.01, timeout_s=5, log_file=tmp_path / "job.log")
    assert out.succeeded and out.reason == "JobsCompleted"
    assert "saferlhf-rl-1-node-0-0-abc" in (tmp_path / "job.log").read_text()  # node 0, not node 1
    assert fake.jobs == {}  # deleted
    assert set(fake.calls) == _role_rules()  # the Role allows exactly the calls made


@pytest.mark.parametrize("kube", ["Failed"], indirect=True)
def test_failed_job_fails_the_step_with_its_reason_and_keep_keeps_it(kube):
    fake, api = kube
    with pytest.raises(UserError, match="saferlhf-rl-1 failed: BackoffLimitExceeded: node 0 exited with code 1"):
        run_trainjob(api, _body(), "ml", poll_s=0.01, timeout_s=5, keep=True)
    assert "saferlhf-rl-1" in fake.jobs and ("trainer.kubeflow.org", "trainjobs", "delete") not in fake.calls


def test_unreachable_api_is_one_clear_line():
    from tests.conftest import free_port

    api = KubeAPI(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(UserError, match=r"^Kubernetes API http://127\.0\.0\.1:\d+ unreachable") as e:
        run_trainjob(api, _body(), "ml", poll_s=0.01, timeout_s=1)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kube", ["Failed"], indirect=True)
def test_cli_fails_with_the_reason_in_one_line_and_exit_2(kube, tmp_path):
    import os
    import subprocess
    import sys

    _, api = kube
    (tmp_path / "token").write_text("t0ken\n")
    r = subprocess.run([sys.executable, "-m", "saferlhf.cli", "trainjob", "run", "--stage", "train-rl", "--name",
                        "rl-cli", "--image", "i", "--config-path", "/c.yaml", "--output-root", "/o", "--api",
                        api.server, "--token-file", str(tmp_path / "token"), "--namespace", "ml",
                        "--poll-seconds", "0.1"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("error: TrainJob ml/rl-cli failed: BackoffLimitExceeded: "
                                                 "node 0 exited with code 1")
    assert "Traceback" not in r.stderr
