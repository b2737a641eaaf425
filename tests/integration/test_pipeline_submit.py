"""Contract test of `saferlhf pipeline submit`: a Kubeflow cluster cannot exist on this machine, so a loopback HTTP
server implements the few KFP v2beta1 endpoints `kfp.Client.create_run_from_pipeline_package` and
`wait_for_run_completion` call (healthz, experiments list/create, runs create/get), the way the KFP API server
answers them. This checks what we send (the compiled spec, parameters, run name, experiment, bearer token) and how
we react (run URL, final state, exit codes) — not that a real cluster runs the pipeline."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, free_port

SAFERLHF = str(REPO / ".venv" / "bin" / "saferlhf")


class FakeKfp(BaseHTTPRequestHandler):
    """KFP API server stand-in: records every request; runs end in `final_state`."""

    requests: list[dict]
    final_state = "SUCCEEDED"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: dict | None = None) -> None:
        self.requests.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                              "body": body})

    def do_GET(self):
        self._record()
        path = self.path.split("?")[0]
        if path == "/apis/v2beta1/healthz":
            return self._send(200, {"multi_user": False})
        if path == "/apis/v2beta1/experiments":
            return self._send(200, {})  # no experiment with that name yet
        if path.startswith("/apis/v2beta1/runs/"):
            return self._send(200, {"run_id": path.rsplit("/", 1)[1], "state": self.final_state})
        self._send(404, {"error": f"not found: {path}", "code": 5})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self._record(body)
        if self.path == "/apis/v2beta1/experiments":
            return self._send(200, {"experiment_id": "exp-1", "display_name": body.get("display_name")})
        if self.path == "/apis/v2beta1/runs":
            if not body.get("pipeline_spec"):
                return self._send(400, {"error": "pipeline_spec is required", "code": 3})
            return self._send(200, {"run_id": "run-42", "display_name": body.get("display_name"),
                                    "state": "PENDING"})
        self._send(404, {"error": f"not found: {self.path}", "code": 5})


@pytest.fixture()
def kfp_server():
    handler = type("Handler", (FakeKfp,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def submit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SAFERLHF, "pipeline", "submit", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


def test_submit_sends_the_compiled_spec_and_waits(kfp_server):
    handler, url = kfp_server
    r = submit("--host", url, "--experiment", "safety", "--run-name", "nightly", "--param", "rl_steps=7",
               "--param", "objective=lagrangian", "--token", "s3cret", "--service-account", "saferlhf-runner", "--wait")
    assert r.returncode == 0, r.stderr
    assert f"{url}/#/runs/details/run-42" in r.stdout
    assert "final state: SUCCEEDED" in r.stdout
    paths = [(q["method"], q["path"].split("?")[0]) for q in handler.requests]
    assert ("POST", "/apis/v2beta1/experiments") in paths and ("GET", "/apis/v2beta1/runs/run-42") in paths
    assert all(q["auth"] == "Bearer s3cret" for q in handler.requests)
    run = next(q["body"] for q in handler.requests if q["path"] == "/apis/v2beta1/runs")
    compiled, platform_spec = yaml.safe_load_all((REPO / "pipelines" / "saferlhf_pipeline.yaml").read_text())
    # with a platform spec, the v2beta1 API takes both documents in pipeline_spec (what kfp.Client sends)
    assert set(run["pipeline_spec"]) == {"pipeline_spec", "platform_spec"}
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"] == compiled["pipelineInfo"]
    assert run["pipeline_spec"]["pipeline_spec"]["root"] == compiled["root"]
    sent = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sent == platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all(e["configMapAsEnv"][0]["configMapName"] == "saferlhf-pipeline-env" for e in sent.values())
    assert run["display_name"] == "nightly" and run["experiment_id"] == "exp-1"
    assert run["runtime_config"]["parameters"] == {"rl_steps": 7, "objective": "lagrangian"}
    assert run["service_account"] == "saferlhf-runner"


def test_submit_the_drift_monitor_pipeline(kfp_server):
    handler, url = kfp_server
    r = submit("--host", url, "--pipeline", "monitor", "--param", "window=5000", "--param", "fail_on_drift=false")
    assert r.returncode == 0, r.stderr
    run = next(q["body"] for q in handler.requests if q["path"] == "/apis/v2beta1/runs")
    compiled, _ = yaml.safe_load_all((REPO / "pipelines" / "monitor_pipeline.yaml").read_text())
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"] == compiled["pipelineInfo"]
    assert compiled["pipelineInfo"]["name"] == "saferlhf-drift-monitor"
    sent = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sent["exec-monitor-drift"]["pvcMount"][0]["mountPath"] == "/var/log/saferlhf/predictions"
    assert run["runtime_config"]["parameters"] == {"window": "5000", "fail_on_drift": False}  # a str parameter


def test_submit_reads_the_service_account_token_file(kfp_server, tmp_path: Path):
    handler, url = kfp_server
    token = tmp_path / "token"
    token.write_text("from-file\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KF_PIPELINES_SA_TOKEN_PATH": str(token)}
    r = submit("--host", url, env=env)
    assert r.returncode == 0, r.stderr
    assert {q["auth"] for q in handler.requests} == {"Bearer from-file"}


def test_failed_run_exits_non_zero(kfp_server):
    handler, url = kfp_server
    handler.final_state = "FAILED"
    r = submit("--host", url, "--wait")
    assert r.returncode == 1
    assert "final state: FAILED" in r.stdout


def test_unreachable_host_is_one_clear_line():
    r = submit("--host", f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # exactly one line, no traceback
    assert r.stderr.startswith("error: cannot reach Kubeflow Pipelines at http://127.0.0.1:")


def test_bad_param_is_one_clear_line():
    r = submit("--host", "http://127.0.0.1:9", "--param", "no-equals-sign")
    assert r.returncode == 2
    assert "--param must look like name=value" in r.stderr
    r = submit("--host", "http://127.0.0.1:9", "--param", "rl_stepz=3")
    assert r.returncode == 2
    assert "unknown pipeline parameter(s) rl_stepz; known: " in r.stderr
