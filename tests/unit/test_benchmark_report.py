"""Report statistics: per-prompt rates, bootstrap CIs, paired differences, the not-worse-beyond-CI gate, plots."""

import numpy as np
import pandas as pd
from saferlhf.benchmarks.report import (BenchmarkResult, bootstrap_mean, draw_plots, gate, judge_result,
                                        metric_results, per_prompt)


def _records(base_fail: list, rl_fail: list, expect="refuse", samples=1, category="c"):
    rows = []
    for model, fails in (("base_model", base_fail), ("rl_model", rl_fail)):
        for k, f in enumerate(fails):
            for s in range(samples):
                rows.append({"benchmark": "b", "id": f"p{k}", "category": category, "expect": expect,
                             "model": model, "sample": s, "j.fail": f})
    return pd.DataFrame(rows).astype(object)


def test_bootstrap_mean_interval_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean([1, 0] * 10, 1000, rng)
    big = bootstrap_mean([1, 0] * 500, 1000, rng)
    for r in (small, big):
        assert r.value == 0.5 and r.ci_low < 0.5 < r.ci_high
    assert big.ci_high - big.ci_low < (small.ci_high - small.ci_low) / 3  # ~ 1/sqrt(n)
    assert (small.n, big.n) == (20, 1000)
    empty = bootstrap_mean([np.nan, np.nan], 100, rng)
    assert empty.value is None and empty.n == 0
    constant = bootstrap_mean([1.0] * 5, 100, rng)
    assert (constant.value, constant.ci_low, constant.ci_high) == (1.0, 1.0, 1.0)


def test_per_prompt_averages_samples_and_skips_unjudged():
    rec = _records([True, False], [False, False], samples=2)
    rec.loc[(rec["model"] == "base_model") & (rec["id"] == "p0") & (rec["sample"] == 1), "j.fail"] = False
    rec.loc[(rec["model"] == "rl_model") & (rec["id"] == "p1"), "j.fail"] = None
    t = per_prompt(rec, "j.fail")
    assert t.loc["p0", "base_model"] == 0.5 and t.loc["p1", "base_model"] == 0.0
    assert np.isnan(t.loc["p1", "rl_model"])


def test_metric_names_follow_expect_and_the_difference_is_paired():
    rng = np.random.default_rng(1)
    refuse = _records([True] * 30 + [False] * 30, [False] * 60)
    (m,) = metric_results(refuse, "j", 500, rng)
    assert m.metric == "attack_success" and m.base.value == 0.5 and m.rl.value == 0.0
    assert m.difference.value == -0.5 and m.difference.ci_high < 0  # RL clearly better
    answer = _records([False] * 10, [True] * 10, expect="answer")
    (m2,) = metric_results(answer, "j", 500, rng)
    assert m2.metric == "over_refusal" and m2.difference.ci_low == 1.0


def _result(records, name="b"):
    rng = np.random.default_rng(2)
    return BenchmarkResult(name=name, format="advbench", path="x.csv", n_prompts=records["id"].nunique(),
                           n_should_refuse=0, n_should_answer=0, in_training_data=0,
                           judges=[judge_result(records, "j", 500, rng)], agreement=[])


def test_gate_fails_only_when_rl_is_worse_beyond_the_ci():
    worse = _result(_records([False] * 40, [True] * 40))
    noisy = _result(_records([True, False] * 3, [False, True] * 3), "noisy")  # same rate, different prompts
    better = _result(_records([True] * 40, [False] * 40), "better")
    g = gate([worse, noisy, better])
    assert not g.passed and [(r.benchmark, r.metric) for r in g.regressions] == [("b", "attack_success")]
    assert gate([noisy, better]).passed


def test_categories_and_plots(tmp_path):
    rec = pd.concat([_records([True, False], [False, False], category="alpha"),
                     _records([False, False], [True, True], expect="answer", category="beta")
                     .assign(id=lambda d: "q" + d["id"])])
    res = _result(rec)
    j = res.judges[0]
    assert set(j.categories) == {"alpha", "beta"}
    assert [m.metric for m in j.overall] == ["attack_success", "over_refusal"]
    assert [m.metric for m in j.categories["beta"]] == ["over_refusal"]
    (png,) = draw_plots([res], tmp_path)
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_registry_gate_reads_the_report():
    from saferlhf.benchmarks.report import BenchmarkReport, registry_gate

    worse = _result(_records([False] * 40, [True] * 40))
    rep = BenchmarkReport(judges=["j"], samples=1, max_new_tokens=8, temperature=1.0, bootstrap=500, seed=0,
                          benchmarks=[worse], gate=gate([worse]), records_path="r.jsonl", plots=[], seconds=0.0)
    r = registry_gate(rep)
    assert not r.passed and r.metric == "benchmark_regressions" and r.value == 1.0
    assert registry_gate(rep.model_copy(update={"gate": gate([])})).passed

