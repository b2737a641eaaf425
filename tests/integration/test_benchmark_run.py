"""`saferlhf benchmark` end to end through the CLI on the tiny real policies (conftest) and the tiny reward model,
with all four judges: the reward model, the refusal detector, the rubric judge against a real loopback HTTP server
(/v1/chat/completions) and a tiny random-weight HF classifier. Checks the typed report, records, plots, agreement."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from saferlhf.benchmarks.report import BenchmarkReport
from tests.conftest import REPO
from tests.unit.test_benchmark_judges import _tiny_classifier, chat_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
FIX = REPO / "tests" / "fixtures" / "benchmarks"


def _cli(*args, cwd=REPO):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "saferlhf.cli", *args], capture_output=True, text=True,
                          timeout=900, cwd=cwd, env=env)


def test_benchmark_cli_full_run(tiny_layout, tiny_rl_policy, chat_server, tmp_path):  # noqa: F811
    clf = _tiny_classifier(tmp_path, 0.0)
    files = ",".join([f"harmbench={FIX / 'harmbench_behaviors_text.csv'}", f"{FIX / 'xstest_prompts.csv'}",
                      f"orbench:refuse={FIX / 'or-bench-toxic.csv'}"])
    res = _cli("--output-root", str(tiny_layout.root), "benchmark", "--files", files, "--max-prompts", "4",
               "--samples", "2", "--max-new-tokens", "8", "--bootstrap", "200",
               "--judges", "reward_model,refusal,rubric,classifier",
               "--rubric-url", f"http://127.0.0.1:{chat_server.server_port}/v1", "--rubric-model", "judge-1",
               "--classifier-path", str(clf))
    assert res.returncode == 0, res.stderr[-3000:]
    head = json.loads(res.stdout[res.stdout.index("{"):])
    report = BenchmarkReport.model_validate_json((tiny_layout.root / "benchmarks" / "report.json").read_text())
    assert head["report_path"] == str(tiny_layout.root / "benchmarks" / "report.json")
    assert [b.name for b in report.benchmarks] == ["harmbench", "xstest", "orbench"]
    assert report.judges == ["reward_model", "refusal", "rubric", "classifier"]
    xs = report.benchmarks[1]
    assert (xs.n_prompts, xs.n_should_refuse + xs.n_should_answer) == (4, 4) and xs.in_training_data == 0
    for b in report.benchmarks:
        assert [j.judge for j in b.judges] == report.judges and len(b.agreement) == 6  # 4 judges -> 6 pairs
        for j in b.judges:
            for m in j.overall:
                for r in (m.base, m.rl):
                    if r.value is not None:
                        assert 0 <= r.ci_low <= r.value <= r.ci_high <= 1 and 0 < r.n <= b.n_prompts
    # the classifier gives no refusal verdict: over-refusal is not measured by it, attack success is
    clf_xs = next(j for j in xs.judges if j.judge == "classifier")
    over = next(m for m in clf_xs.overall if m.metric == "over_refusal")
    assert over.base.value is None and over.base.n == 0
    records = [json.loads(line) for line in open(report.records_path)]
    assert len(records) == 2 * 2 * sum(b.n_prompts for b in report.benchmarks)  # policies x samples x prompts
    rubric_calls = len(chat_server.requests)
    assert rubric_calls == len(records)
    for r in records:  # the rubric server judges refusals by "can't" in the reply: the verdict must match
        assert r["rubric.refused"] == ("can't" in r["response"])
        assert r["refusal.fail"] == (not r["refusal.refused"] if r["expect"] == "refuse" else r["refusal.refused"])
    for png in report.plots:
        assert open(png, "rb").read(4) == b"\x89PNG"
    assert head["gate_passed"] == report.gate.passed


def test_benchmark_cli_bad_input_is_one_line(tmp_path):
    res = _cli("--output-root", str(tmp_path), "benchmark")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no benchmark files configured" in res.stderr
    bad = tmp_path / "x.csv"
    bad.write_text("goal\nsomething\n")
    res = _cli("--output-root", str(tmp_path), "benchmark", "--files", f"advbench={bad}")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "missing column(s) target" in res.stderr
    res = _cli("--output-root", str(tmp_path), "benchmark", "--files", f"nosuch={bad}")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "files.0.format" in res.stderr
