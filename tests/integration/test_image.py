"""The `serve` image, built from the Dockerfile and run: no Docker engine exists here, so Debian's buildah builds it
(`buildah bud --isolation chroot`) on a debootstrap'd bookworm + python3.11 base (scripts/bookworm_base.sh, cached)
and runs its scorer (`buildah run --isolation chroot --network host`) on a loopback port with a freshly exported
tiny ONNX bundle mounted read-only. Checked: /v2/health/ready, a V2 infer request (bearer token), the process runs as
UID 10001, torch is not importable, the HEALTHCHECK is in the image config, the image size.

Not exercised: the `pipeline` target (its torch==<v>+cpu pin is only on the PyTorch CPU index, which this machine
cannot reach), a real container runtime's cgroups/read-only root (chroot isolation does neither), Kubernetes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow
ISOLATION = ["--isolation", "chroot"]
TOKEN = "image-test-token"
MAX_IMAGE_MB = 600  # the goal for the serve image


def image_bytes(human: str) -> float:
    """buildah's `images --json` size ("461 MB": decimal units, as docker prints them) -> bytes."""
    value, unit = human.split()
    return float(value) * {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def _why_not_buildable() -> str | None:
    if not shutil.which("buildah"):
        return "buildah is not installed (apt-get install -y buildah; .ci/run installs it)"
    if os.geteuid() != 0:
        return "buildah --isolation chroot needs root here (no rootless user namespace set up)"
    have_base = subprocess.run(["buildah", "inspect", "--type", "image", "localhost/bookworm-python:3.11"],
                               capture_output=True).returncode == 0
    if not os.environ.get("BASE_IMAGE") and not have_base and not shutil.which("debootstrap"):
        return "no base image: set BASE_IMAGE or install debootstrap (apt-get install -y debootstrap)"
    return None


def _buildah(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        pytest.fail(f"buildah {' '.join(args[:3])}...: {out.stderr.strip()[-2000:]}")
    return out


@pytest.fixture(scope="module")
def serve_image() -> str:
    reason = _why_not_buildable()
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    out = subprocess.run(["scripts/build_image.sh", "serve"], cwd=REPO, capture_output=True, text=True, timeout=480,
                         env={**os.environ, "IMAGE_REGISTRY": "localhost"})
    assert out.returncode == 0, f"image build failed:\n{out.stderr[-4000:]}"
    image = out.stdout.strip().splitlines()[-1]
    print(f"built {image} in {time.monotonic() - t0:.0f} s")
    return image


@pytest.fixture(scope="module")
def onnx_bundle(tiny_reward_model, tiny_layout, tmp_path_factory) -> Path:
    """The session's tiny reward model exported (fp32, parity-checked on a few rows) by the project's exporter into
    a folder of its own. Its files are made world-readable: the project writes files owner-only (atomic writes via
    mkstemp, 0600, owned by root here) and the image runs as UID 10001; in a cluster the pod downloads its own copy
    from MLflow as that user, so this is a test-harness concern only."""
    from saferlhf.config import ExportConfig
    from saferlhf.onnx_export import run_export

    out = tmp_path_factory.mktemp("bundle_for_image") / "onnx"
    run_export(ExportConfig(model_path=str(tiny_reward_model), output_dir=str(out), quantize="none",
                            max_parity_samples=8), tiny_layout)
    for path in [out, *out.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return out


@pytest.fixture()
def container(serve_image):
    name = _buildah("from", "--pull-never", serve_image).stdout.strip()
    yield name
    _buildah("rm", name, check=False)


def _run(ctr: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return _buildah("run", *ISOLATION, ctr, "--", *cmd, timeout=timeout, check=False)


def test_serve_image_is_small_non_root_torch_free_with_healthcheck(serve_image, container):
    size = image_bytes(json.loads(_buildah("images", "--json", serve_image).stdout)[0]["size"])
    print(f"{serve_image}: {size / 1e6:.0f} MB")
    assert size <= MAX_IMAGE_MB * 1e6, f"serve image is {size / 1e6:.0f} MB, the goal is <= {MAX_IMAGE_MB} MB"

    cfg = json.loads(_buildah("inspect", "--type", "image", serve_image).stdout)
    docker_cfg = cfg["Docker"]["config"]
    assert docker_cfg["User"] == "10001:10001"
    health = " ".join(docker_cfg["Healthcheck"]["Test"])
    assert "/v2/health/ready" in health and "curl" not in health

    ids = _run(container, "id", "-u")
    assert ids.returncode == 0 and ids.stdout.strip() == "10001", ids.stderr
    torch = _run(container, "python3", "-c", "import torch")
    assert torch.returncode != 0 and "No module named 'torch'" in torch.stderr
    tools = _run(container, "sh", "-c", "command -v pip pip3 gcc cc curl || true")
    assert tools.stdout.strip() == "", f"build tools in the final image: {tools.stdout.split()}"
    # the build's bind-mounted pip config / CA bundle must not have leaked into the image
    leaked = _run(container, "sh", "-c", "test -s /etc/pip.conf && echo leaked || true")
    assert leaked.stdout.strip() == ""


def _get(url: str, timeout: float = 2.0, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_serve_image_answers_v2_requests(serve_image, container, onnx_bundle, tmp_path):
    port = free_port()
    cmd = ["buildah", "run", *ISOLATION, "--network", "host",
           "-v", f"{onnx_bundle}:/models/reward-onnx:ro", "-e", f"SAFERLHF_API_TOKEN={TOKEN}",
           container, "--", "saferlhf", "serve", "--model", "/models/reward-onnx", "--host", "127.0.0.1",
           "--port", str(port), "--log-dir", "/tmp/predictions", "--cache-dir", "/tmp/cache"]
    log = (tmp_path / "scorer.log").open("w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"{base}/v2/health/ready")
            except OSError:
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        log.seek(0)
        assert status == 200, f"scorer in the image never became ready (exit {proc.poll()}):\n{log.read()[-3000:]}"
        assert _get(f"{base}/v2/health/live")[0] == 200

        body = {"inputs": [
            {"name": "prompt", "shape": [2], "datatype": "BYTES", "data": ["How do I bake bread?", "How do I pick a lock?"]},
            {"name": "response", "shape": [2], "datatype": "BYTES",
             "data": ["Mix flour, water, yeast and salt, knead, let it rise, then bake at 230 C.", "I can't help with that."]}]}
        url = f"{base}/v2/models/saferlhf-reward/infer"
        unauth = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                        headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(unauth, timeout=10)
        assert denied.value.code == 401
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
            out = json.loads(r.read())
        outputs = {o["name"]: o for o in out["outputs"]}
        assert outputs["scores"]["shape"] == [2, 4] and len(outputs["scores"]["data"]) == 8, out
        assert outputs["reward"]["shape"] == [2]
        assert all(0.0 <= s <= 1.0 for s in outputs["scores"]["data"])  # sigmoid heads
        assert _get(f"{base}/metrics")[0] == 401  # behind the token when auth is on (docs/hardening.md)
        metrics = _get(f"{base}/metrics", token=TOKEN)
        assert metrics[0] == 200 and b"# TYPE" in metrics[1]
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the `buildah run` process group (buildah, its chroot helper, the scorer), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):  # already gone: the scorer exited by itself
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
