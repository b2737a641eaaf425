"""The dashboard in a real headless Chromium (Debian `chromium` driven by Playwright): `saferlhf dashboard` serves
fixture outputs on a free loopback port; every page is visited, its key elements checked and a screenshot saved
(SAFERLHF_SCREENSHOTS_DIR, default a temp folder; `make screenshots` points it at docs/screenshots). The prompt
tester generates with the tiny base and RL policies and scores through the real scoring service (`saferlhf
serve`) on loopback; the local-model fallback is covered by the AppTest suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from saferlhf.artifacts import Layout
from tests.conftest import REPO, free_port
from tests.servers import stop, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
SAFERLHF = Path(sys.executable).with_name("saferlhf")


@pytest.fixture(scope="module")
def outputs(dashboard_outputs, tiny_reward_model, tiny_base_policy, tiny_rl_policy, tmp_path_factory) -> Path:
    """A private copy of the fixture outputs plus the tiny real reward model and base/RL policies, so the prompt
    tester generates and scores for real (the fixture's metrics and training stats are kept)."""
    root = tmp_path_factory.mktemp("e2e") / "outputs"
    shutil.copytree(dashboard_outputs["layout"].root, root)
    layout = Layout(root)
    for src, dst in ((tiny_reward_model, layout.reward_model), (tiny_base_policy, layout.base_policy),
                     (tiny_rl_policy, layout.rl_policy)):
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.is_file() and not (dst / f.name).exists():
                shutil.copy2(f, dst / f.name)
    return root


@pytest.fixture(scope="module")
def scorer(tiny_onnx_bundle):
    """The real scoring service (`saferlhf serve`, ONNX fp32) on a free loopback port; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([str(SAFERLHF), "serve", "--model", str(tiny_onnx_bundle), "--precision", "fp32",
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", proc, 120, what="scorer")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, timeout=15)


@pytest.fixture(scope="module")
def dashboard(outputs, scorer) -> str:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([str(SAFERLHF), "--output-root", str(outputs), "dashboard", "--host", "127.0.0.1",
                             "--port", str(port), "--scorer-url", scorer],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/_stcore/health", proc, 90, what="dashboard")
        yield url
    finally:
        stop(proc, timeout=15)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("SAFERLHF_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    offsite: list[str] = []  # the dashboard must work offline: every request stays on loopback
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: urlparse(r.url).hostname not in (None, "", "127.0.0.1") and offsite.append(r.url))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not offsite, f"requests left the machine: {offsite[:5]}"


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSpinner"]');
}"""


def wait_idle(page) -> None:
    """Wait until the page's script run has finished (Streamlit marks its root element) and charts are drawn."""
    page.wait_for_function(IDLE_JS)
    page.wait_for_timeout(1500)


def visit(page, url: str, title: str) -> None:
    """Open a page, wait until its script has finished, and check it raised nothing."""
    page.goto(url)
    page.get_by_role("heading", name=title).wait_for()
    wait_idle(page)
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()


def snap(page, shots: Path, name: str) -> None:
    """Screenshot of the whole page: the viewport is stretched to the main area's height (it scrolls inside)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 3200)})
    wait_idle(page)
    page.screenshot(path=str(shots / f"{name}.png"))
    page.set_viewport_size(size)


def test_every_page(page, dashboard, dashboard_outputs, shots):
    res, probes = dashboard_outputs["evaluation"], dashboard_outputs["probes"]["summary"]
    u = res["unsafe_output_pct"]

    visit(page, dashboard, "SafeRLHF overview")
    page.locator("[data-testid='stGraphVizChart'] svg").wait_for()
    assert page.locator("[data-testid='stGraphVizChart'] svg g.node").count() == 9
    page.get_by_text(f"{u['base']:.1f} → {u['rl']:.1f}").wait_for()
    page.get_by_text(f"{probes['base_model_overall_risk']:.3f} → {probes['rl_model_overall_risk']:.3f}").wait_for()
    assert page.locator("[data-testid='stSidebarNav'] a").count() == 9
    snap(page, shots, "overview")

    visit(page, f"{dashboard}/before_after", "Before / After: base vs RL policy")
    page.get_by_text(f"{res['num_prompts']} prompts match").wait_for()
    page.get_by_text(res["records"][0]["response"]).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    snap(page, shots, "before_after")

    last = dashboard_outputs["training"][-1]
    visit(page, f"{dashboard}/training", "RL training")
    page.get_by_text(f"{last['kl']:.4g}", exact=True).wait_for()
    assert page.locator(".js-plotly-plot").count() == 7
    snap(page, shots, "training")

    visit(page, f"{dashboard}/safety_metrics", "Safety metrics: base vs RL")
    page.get_by_role("heading", name="Improvements of the RL policy").wait_for()
    assert page.locator(".js-plotly-plot").count() == 2
    snap(page, shots, "safety_metrics")

    visit(page, f"{dashboard}/calibration", "Reward-model calibration")
    page.get_by_text(f"{dashboard_outputs['reward']['ece']['safety']:.4f}", exact=True).wait_for()
    assert page.locator(".js-plotly-plot").count() == 4
    snap(page, shots, "calibration")

    visit(page, f"{dashboard}/probes", "Safety probes")
    page.get_by_text(f"{probes['rl_model_overall_risk']:.3f}", exact=True).wait_for()
    page.get_by_role("heading", name="Failure examples").wait_for()
    snap(page, shots, "probes")

    runs = dashboard_outputs["drift"]
    visit(page, f"{dashboard}/drift", "Safety drift")
    page.get_by_text("PASS" if runs[-1]["passed"] else "FAIL", exact=True).wait_for()
    frame = page.frame_locator("iframe[title='Latest Evidently drift report']")
    frame.locator("body").wait_for()
    assert len(frame.locator("body").inner_text()) > 100  # the Evidently report rendered inside the page
    snap(page, shots, "drift")

    visit(page, f"{dashboard}/registry", "Model registry")
    page.get_by_text("Gate results").wait_for()
    assert page.get_by_text("Apply").count() >= 1  # the confirmation-guarded form
    snap(page, shots, "registry")


def test_prompt_tester(page, dashboard, scorer, shots):
    """Both policies generate; both answers are scored by the scoring endpoint; the page shows its numbers."""
    visit(page, f"{dashboard}/prompt_tester", "Prompt tester")
    page.get_by_text("Policies found: base, rl").wait_for()
    prompt = "How can I get into my neighbour's wifi without the password?"
    page.locator("textarea").first.fill(prompt)
    page.get_by_role("button", name="Generate and score").click()
    page.get_by_text("Scored by the").wait_for(timeout=120_000)
    wait_idle(page)
    assert "scoring endpoint" in page.get_by_text("Scored by the").inner_text()
    answers = page.locator("[data-testid='stText']").all_inner_texts()
    assert len(answers) == 2
    want = httpx.post(f"{scorer}/v1/score", json={"items": [{"prompt": prompt, "response": a} for a in answers]},
                      timeout=30).json()["results"]
    shown = [float(v) for v in page.locator("[data-testid='stMetricValue']").all_inner_texts()]
    assert shown == pytest.approx([w["reward"] for w in want], abs=2e-3)
    snap(page, shots, "prompt_tester")
