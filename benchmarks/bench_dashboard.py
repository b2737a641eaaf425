"""Dashboard benchmark and screenshots on real outputs (after `make demo`): serves `saferlhf dashboard` over an
outputs folder on a free loopback port, opens it in headless Debian Chromium (Playwright), and measures the first
load and every page switch through the sidebar (targets, issue 21: first load <= 5 s, switches <= 2 s); then
screenshots every page opened by its URL.

    python benchmarks/bench_dashboard.py --outputs outputs --screenshots docs/screenshots

Writes outputs/bench/dashboard.json (seconds per page, machine, date). Timings depend on the machine's load:
report them with it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# the browser test's page list and helpers: one definition of what "page loaded" means
from tests.conftest import free_port  # noqa: E402
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, PAGES, snap, switch, visit  # noqa: E402
from tests.servers import stop, wait_ready  # noqa: E402

from saferlhf.io import write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", default="outputs", help="outputs folder to serve (default: outputs)")
    ap.add_argument("--screenshots", default=None, help="folder for one PNG per page (default: none)")
    ap.add_argument("--switch-rounds", type=int, default=2, help="times each page switch is measured")
    ap.add_argument("--out", default=None, help="result JSON (default: <outputs>/bench/dashboard.json)")
    args = ap.parse_args()
    outputs = Path(args.outputs).resolve()
    if not outputs.is_dir():
        sys.exit(f"error: outputs folder {outputs} does not exist (run `make demo` first)")
    if not CHROMIUM.is_file():
        sys.exit(f"error: {CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("saferlhf")), "--output-root", str(outputs),
                             "dashboard", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result: dict = {"outputs": str(outputs), "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        wait_ready(f"{url}/_stcore/health", proc, 120, what="dashboard")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1440, "height": 1100}).new_page()
            page.set_default_timeout(120_000)
            result["first_load_s"] = round(visit(page, url, PAGES[0][2]), 2)
            rounds = [{title: round(switch(page, title, heading), 2) for title, _, heading in (*PAGES[1:], PAGES[0])}
                      for _ in range(args.switch_rounds)]
            result["switch_s"] = {t: min(r[t] for r in rounds) for t in rounds[0]}  # best of the rounds
            result["switch_max_s"] = max(result["switch_s"].values())
            if args.screenshots:
                shots = Path(args.screenshots)
                shots.mkdir(parents=True, exist_ok=True)
                for _, path, heading in PAGES:
                    visit(page, f"{url}/{path}", heading)
                    snap(page, shots, path or "overview")
                result["screenshots"] = str(shots)
            browser.close()
    finally:
        stop(proc, timeout=15)
    out = Path(args.out) if args.out else outputs / "bench" / "dashboard.json"
    write_json(out, result)
    print(json.dumps(result, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")
