"""`saferlhf benchmark` end to end through the CLI on tiny real models (the conftest's from-scratch GPT-2 base
policy, a perturbed copy of it, a random-weight reward model), with all four judges: the reward model, the refusal
detector, the rubric judge against a real loopback HTTP server (/v1/chat/completions) and a tiny random-weight HF
classifier. Checks the typed report, records, plots and agreement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


@pytest.fixture(scope="module")
def random_reward_model(tmp_path_factory) -> Path:
    """A reward model with a tiny random-weight BERT encoder and the bundled tokenizer, saved the project's way:
    the judge path is what is tested, not the model's quality (and training one takes minutes on a loaded CPU)."""
    import torch
    from transformers import BertConfig, BertModel

    from saferlhf.reward.model import RewardHeadConfig, RewardModel, load_tokenizer

    tok = load_tokenizer(None)
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=64, max_position_embeddings=128))
    out = tmp_path_factory.mktemp("reward") / "reward_model"
    RewardModel(encoder, RewardHeadConfig(base_model="tiny-random-bert", max_length=64)).save(out, tok)
    return out


@pytest.fixture(scope="module")
def second_policy(tiny_base_policy, tmp_path_factory) -> Path:
    """The tiny base policy with perturbed weights: a second real policy standing in for RL (the report needs two
    policies that answer differently; RL training itself is tested elsewhere)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base_policy)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    out = tmp_path_factory.mktemp("policy") / "rl_policy"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base_policy).save_pretrained(out)
    return out


def test_benchmark_cli_full_run(tiny_layout, tiny_base_policy, second_policy, random_reward_model, chat_server,  # noqa: F811
                                tmp_path):
    clf = _tiny_classifier(tmp_path, 0.0)
    files = ",".join([f"harmbench={FIX / 'harmbench_behaviors_text.csv'}", f"{FIX / 'xstest_prompts.csv'}",
                      f"orbench:refuse={FIX / 'or-bench-toxic.csv'}"])
    res = _cli("--output-root", str(tiny_layout.root), "benchmark", "--files", files, "--max-prompts", "4",
               "--rl-policy-path", str(second_policy), "--reward-model-path", str(random_reward_model),
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
