"""CONTRACT TEST of the TrainJob launcher against a loopback HTTP server that speaks the Kubernetes API paths the
launcher calls (create/get/delete trainjobs, list pods by the JobSet label, get pods/log). The server is a fake
(tests/kube_fake.py): no Kubernetes API server can run here. It checks the request shapes (method, path, body
against the CRD schema) and answers as the API server does; the calls it saw are compared with the Role in
manifests/pipeline/trainjob-rbac.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferlhf.errors import UserError
from saferlhf.trainjob import trainjob_body
from saferlhf.trainjob_launch import KubeAPI, run_trainjob
from tests.kube_fake import FakeKube, role_rules, serve

pytestmark = pytest.mark.contract
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kube(request):
    fake = FakeKube(request.param)
    with serve(fake) as api:
        yield fake, api


def _body():
    return trainjob_body("train-rl", "saferlhf-rl-1", "saferlhf:gpu", "/cfg/c.yaml", "/outputs", num_nodes=2,
                         gpus_per_node=1)


@pytest.mark.parametrize("kube", ["Complete"], indirect=True)
def test_success_waits_keeps_node0_logs_and_deletes(kube, tmp_path):
    fake, api = kube
    out = run_trainjob(api, _body(), "ml", poll_s=0.01, timeout_s=5, log_file=tmp_path / "job.log")
    assert out.succeeded and out.reason == "JobsCompleted"
    assert "saferlhf-rl-1-node-0-0-abc" in (tmp_path / "job.log").read_text()  # node 0, not node 1
    assert fake.jobs == {}  # deleted
    assert set(fake.calls) == role_rules(REPO)  # the Role allows exactly the calls made


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
