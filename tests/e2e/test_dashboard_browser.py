"""The dashboard in a real headless Chromium (Debian `chromium` driven by Playwright): `saferlhf dashboard` serves
fixture outputs on a free loopback port; every page is visited, its key elements checked and a screenshot saved
(SAFERLHF_SCREENSHOTS_DIR, default a temp folder; `make screenshots` points it at docs/screenshots). The prompt
tester generates with the tiny base and RL policies and scores through the real scoring service (`saferlhf
serve`) on loopback; the local-model fallback is covered by the AppTest suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from saferlhf.artifacts import Layout
from saferlhf.stages import STAGES
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


# (sidebar title, URL path, page heading) of every page, in sidebar order (benchmarks/bench_dashboard.py too)
PAGES = (("Overview", "", "SafeRLHF overview"), ("Before / After", "before_after", "Before / After: base vs RL policy"),
         ("Training", "training", "RL training"), ("Safety metrics", "safety_metrics", "Safety metrics: base vs RL"),
         ("Calibration", "calibration", "Reward-model calibration"), ("Safety probes", "probes", "Safety probes"),
         ("Benchmarks", "benchmarks", "External safety benchmarks"),
         ("Prompt tester", "prompt_tester", "Prompt tester"), ("Drift", "drift", "Safety drift"),
         ("Registry", "registry", "Model registry"))
PAGE_PATHS = tuple(path for _, path, _ in PAGES if path)
# Streamlit's frontend finds its server by trying every prefix of the page's URL, so opening /<page> directly
# first asks /<page>/_stcore/health and /<page>/_stcore/host-config (404), then the root (200): upstream
# streamlit/streamlit#7074, open. Exactly those two probes are tolerated; the root requests must then succeed.
BASE_PATH_PROBE = re.compile(rf"^/(?:{'|'.join(PAGE_PATHS)})/_stcore/(?:health|host-config)$")


def _is_probe(url: str) -> bool:
    return bool(BASE_PATH_PROBE.match(urlparse(url).path))


@pytest.fixture()
def page(browser, dashboard):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    own = urlparse(dashboard).netloc
    errors: list[str] = []
    offsite: list[str] = []  # the dashboard must work offline: every request stays on loopback
    failed: list[str] = []  # requests to the app's own server that failed or were answered >= 400
    console: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: urlparse(r.url).hostname not in (None, "", "127.0.0.1") and offsite.append(r.url))
    pg.on("requestfailed", lambda r: urlparse(r.url).netloc == own and failed.append(f"{r.url}: {r.failure}"))
    pg.on("response", lambda r: urlparse(r.url).netloc == own and r.status >= 400 and not _is_probe(r.url)
          and failed.append(f"{r.url}: HTTP {r.status}"))
    pg.on("console", lambda m: m.type == "error" and not _is_probe((m.location or {}).get("url", ""))
          and console.append(f"{m.text} ({(m.location or {}).get('url', '')})"))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not offsite, f"requests left the machine: {offsite[:5]}"
    assert not failed, f"requests to the dashboard's own server failed: {failed[:5]}"
    assert not console, f"console errors: {console[:5]}"


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSpinner"]');
}"""


def wait_idle(page) -> None:
    """Wait until the page's script run has finished (Streamlit marks its root element) and charts are drawn."""
    page.wait_for_function(IDLE_JS)
    page.wait_for_timeout(1500)


def visit(page, url: str, title: str) -> float:
    """Open a page by its URL, wait until its script has finished, check it raised nothing; returns the seconds
    from navigation to a finished script run."""
    t0 = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", name=title).wait_for()
    page.wait_for_function(IDLE_JS)
    seconds = time.perf_counter() - t0
    page.wait_for_timeout(1500)  # charts draw after the script run ends
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()
    assert page.locator("[data-testid='stAppDeployButton']").count() == 0  # an offline tool: no Deploy button
    return seconds


def snap(page, shots: Path, name: str) -> None:
    """Screenshot of the whole page: the viewport is stretched to the main area's height (it scrolls inside)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 3200)})
    wait_idle(page)
    page.screenshot(path=str(shots / f"{name}.png"), timeout=120_000)
    page.set_viewport_size(size)


def record_timing(shots: Path, key: str, values: dict) -> None:
    """Page timings (measured, reported, never asserted) in <screenshots>/dashboard_timings.json."""
    path = shots / "dashboard_timings.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = {k: round(v, 2) for k, v in values.items()}
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"dashboard timings ({key}, seconds): {data[key]}")


def test_every_page(page, dashboard, dashboard_outputs, shots):
    """Each page opened by its URL, checked for the failure a safety engineer must not miss on fixture outputs
    built to hold one: a stale champion, 45% over-refusal, an off-topic high-reward answer, a one-sample
    calibration bin, a susceptible reward model, a weighted run beside a Lagrangian one."""
    from tests.fixtures.dashboard_outputs import OFF_TOPIC_PROMPT

    res, probes = dashboard_outputs["evaluation"], dashboard_outputs["probes"]["summary"]
    u, over = res["unsafe_output_pct"], res["over_refusal"]
    times = {}

    times["overview"] = visit(page, dashboard, "SafeRLHF overview")
    page.locator("[data-testid='stGraphVizChart'] svg").wait_for()
    assert page.locator("[data-testid='stGraphVizChart'] svg g.node").count() == len(STAGES)  # the stage table
    assert "stale" in page.locator("[data-testid='stGraphVizChart'] svg g.node", has_text="Registry").text_content()
    page.get_by_text(f"{u['base']:.1f} → {u['rl']:.1f}").wait_for()
    card = page.locator("[data-testid='stMetric']", has_text="Over-refusal on benign prompts %")
    assert f"{over['base_pct']:.1f} → {over['rl_pct']:.1f}" in card.inner_text() and over["rl_pct"] >= 45
    page.get_by_text(f"{probes['base_model_overall_risk']:.3f} → {probes['rl_model_overall_risk']:.3f}").wait_for()
    stale = page.locator("[data-testid='stAlertContentWarning']").first
    assert "was gated on numbers that differ" in stale.inner_text() and "over_refusal" in stale.inner_text()
    assert page.locator("[data-testid='stSidebarNav'] a").count() == len(PAGES)
    snap(page, shots, "overview")

    times["before_after"] = visit(page, f"{dashboard}/before_after", "Before / After: base vs RL policy")
    page.get_by_text(f"{res['num_prompts']} prompts match").wait_for()
    first = page.locator("[data-testid='stMain'] blockquote").first
    assert first.inner_text().strip() == OFF_TOPIC_PROMPT  # sorted by reward-vs-relevance gap
    assert page.get_by_text("⚠ off-topic, high reward").count() >= 1
    page.locator(".js-plotly-plot").first.wait_for()
    snap(page, shots, "before_after")

    last = dashboard_outputs["training"][-1]
    times["training"] = visit(page, f"{dashboard}/training", "RL training")
    page.get_by_text(f"{last['kl']:.4g}", exact=True).first.wait_for()
    page.get_by_text(f"{last['over_refusal']:.4g}", exact=True).first.wait_for()
    assert page.get_by_text("Safety cost", exact=True).count() == 0  # a weighted run: no Lagrangian cost
    page.get_by_text("Rule flags: share of completions over-refusing / degenerate").first.wait_for()
    page.get_by_role("heading", name="Compare RL runs").wait_for()
    snap(page, shots, "training")

    times["safety_metrics"] = visit(page, f"{dashboard}/safety_metrics", "Safety metrics: base vs RL")
    page.get_by_role("heading", name="Change RL − base, in each metric's own unit").wait_for()
    assert page.locator(".js-plotly-plot").count() == 4  # three units, one chart each, plus the categories
    worse = page.locator(".js-plotly-plot", has_text="percentage points").locator("path[style*='rgb(198, 40, 40)']")
    assert worse.count() >= 1  # the over-refusal increase is drawn red
    snap(page, shots, "safety_metrics")

    times["calibration"] = visit(page, f"{dashboard}/calibration", "Reward-model calibration")
    page.get_by_text(f"{dashboard_outputs['reward']['ece']['safety']:.4f}", exact=True).first.wait_for()
    page.get_by_text(f"{dashboard_outputs['reward']['mae']['safety']:.4f}", exact=True).first.wait_for()
    assert page.locator(".js-plotly-plot").count() == 4
    page.get_by_text("Bins with fewer than 5 samples").wait_for()
    assert page.locator(".js-plotly-plot text", has_text=re.compile(r"^n=1$")).count() >= 1  # bin counts drawn
    snap(page, shots, "calibration")

    times["probes"] = visit(page, f"{dashboard}/probes", "Safety probes")
    page.get_by_text(f"{probes['rl_model_overall_risk']:.3f}", exact=True).wait_for()
    sus = probes["reward_model_susceptibility"]["above_reference_pct"]
    page.get_by_text(f"{sus:.1f}%", exact=True).wait_for()
    page.get_by_role("heading", name="Failure examples").wait_for()
    snap(page, shots, "probes")

    runs = dashboard_outputs["drift"]
    times["drift"] = visit(page, f"{dashboard}/drift", "Safety drift")
    page.get_by_text("PASS" if runs[-1]["passed"] else "FAIL", exact=True).wait_for()
    frame = page.frame_locator("iframe[title='Latest Evidently drift report']")
    frame.locator("body").wait_for()
    assert len(frame.locator("body").inner_text()) > 100  # the Evidently report rendered inside the page
    snap(page, shots, "drift")

    times["registry"] = visit(page, f"{dashboard}/registry", "Model registry")
    page.get_by_text("Gate results").wait_for()
    assert page.get_by_text("Apply").count() >= 1  # the confirmation-guarded form
    snap(page, shots, "registry")
    record_timing(shots, "open_by_url", times)


def test_page_switches(page, dashboard, shots):
    """First load of the app, then every page reached through the sidebar: the times are reported."""
    times = {"first_load": visit(page, dashboard, "SafeRLHF overview")}
    for title, _, heading in (*PAGES[1:], PAGES[0]):
        times[title] = switch(page, title, heading)
    record_timing(shots, "switch", times)


def switch(page, title: str, heading: str) -> float:
    """Seconds from a sidebar click to the page's finished script run."""
    t0 = time.perf_counter()
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).click()
    page.get_by_role("heading", name=heading).wait_for()
    page.wait_for_function(IDLE_JS)
    return time.perf_counter() - t0


def test_prompt_tester(page, dashboard, scorer, shots):
    """Both policies sample N answers each with their own seeds; every answer is scored by the scoring endpoint;
    the page shows those rewards, a refusal flag per answer and a per-policy summary."""
    visit(page, f"{dashboard}/prompt_tester", "Prompt tester")
    page.get_by_text("Policies found: base, rl").wait_for()
    prompt = "How can I get into my neighbour's wifi without the password?"
    page.locator("textarea").first.fill(prompt)
    page.get_by_label("Samples per policy", exact=True).fill("3")
    page.get_by_role("button", name="Generate and score").click()
    page.get_by_text("Every answer scored by the").wait_for(timeout=180_000)
    wait_idle(page)
    assert "scoring endpoint" in page.get_by_text("Every answer scored by the").inner_text()
    answers = page.locator("[data-testid='stText']").all_inner_texts()
    assert len(answers) == 6  # 3 per policy
    seeds = re.findall(r"seed (\d+)", page.locator("[data-testid='stMain']").inner_text())
    assert len(seeds) == 6 and len(set(seeds)) == 6  # a seed of its own per sample
    want = httpx.post(f"{scorer}/v1/score", json={"items": [{"prompt": prompt, "response": a} for a in answers]},
                      timeout=30).json()["results"]
    shown = [float(v) for v in re.findall(r"reward (-?\d+\.\d{3})",
                                          page.locator("[data-testid='stMain']").inner_text())]
    assert shown == pytest.approx([w["reward"] for w in want], abs=2e-3)
    summary = page.locator("[data-testid='stDataFrame']").first
    summary.wait_for()
    assert page.get_by_role("heading", name="Per policy").count() == 1
    snap(page, shots, "prompt_tester")
