"""The Benchmarks page's tables from real BenchmarkResults (built as test_benchmark_report builds them): rates as
% with CIs, base before RL, the difference coloured by direction and goodness, agreement, the gate's lines."""

import numpy as np
from saferlhf import dashboard_benchmarks as db
from saferlhf.benchmarks.judges import Verdict, agreement
from saferlhf.benchmarks.report import Agreement, BenchmarkReport, gate, judge_result

from tests.unit.test_benchmark_report import _records, _result


def _report(*benchmarks):
    return BenchmarkReport(judges=["j"], samples=1, max_new_tokens=8, temperature=1.0, bootstrap=500, seed=0,
                           benchmarks=list(benchmarks), gate=gate(list(benchmarks)), records_path="r.jsonl",
                           plots=[], seconds=0.0)


def test_table_shows_base_then_rl_and_colours_the_difference_by_goodness():
    attacks = _records([False] * 40, [True] * 40)  # RL succeeds on attacks base refused: worse
    refusals = _records([True] * 30, [False] * 30, expect="answer").assign(id=lambda d: "q" + d["id"])  # better
    res = _result(attacks._append(refusals, ignore_index=True))
    table = db.benchmark_table(res)
    assert list(table.columns[:5]) == ["judge", "metric", "base", "RL", db.DIFFERENCE]
    (att, ovr) = res.judges[0].overall
    assert table["base"].tolist() == [db.pct(att.base), db.pct(ovr.base)]
    assert table["RL"].tolist() == [db.pct(att.rl), db.pct(ovr.rl)]
    assert table["n"].tolist() == [str(att.base.n), str(ovr.base.n)]
    assert table["verdict"].tolist() == ["worse*", "better*"]
    html = db.styled(table).to_html()
    assert db.RED.split(": ")[1] in html and db.GREEN.split(": ")[1] in html and "verdict" not in html


def test_verdict_follows_sign_and_significance():
    noisy = _result(_records([True, False] * 3, [False, True] * 3))  # same rate, different prompts
    (m,) = noisy.judges[0].overall
    assert db.verdict(m.metric, m.difference) == "same"
    worse_noisy = _result(_records([False] * 4, [True, False, False, False]))
    (w,) = worse_noisy.judges[0].overall
    assert w.difference.ci_low <= 0 < w.difference.value and db.verdict(w.metric, w.difference) == "worse"
    assert db.pct(w.difference, signed=True).startswith("+")


def test_gate_lines_and_agreement():
    worse = _result(_records([False] * 40, [True] * 40))
    rep = _report(worse, _result(_records([True] * 40, [False] * 40), "better"))
    assert not rep.gate.passed
    (line,) = db.regression_lines(rep)
    assert line.startswith("b / j: attack success +") and db.pct(rep.gate.regressions[0].difference, True) in line
    assert db.agreement_table(worse).empty
    rec = _records([False] * 10, [True] * 10)
    rec["k.fail"] = rec["j.fail"]
    rec.loc[rec.index[:2], "k.fail"] = True  # k disagrees with j on two items
    verdicts = {j: [Verdict(unsafe=f, refused=None) for f in rec[f"{j}.fail"]] for j in ("j", "k")}
    (pair,) = [Agreement(**a) for a in agreement(verdicts, rec["expect"].tolist())]
    two = worse.model_copy(update={"judges": [judge_result(rec, j, 100, np.random.default_rng(0)) for j in "jk"],
                                   "agreement": [pair]})
    assert db.agreement_table(two).to_dict("records") == [{"judges": "j vs k", "n": pair.n,
                                                           "agreement": pair.agreement, "kappa": pair.kappa}]
    assert pair.agreement == 0.9 and 0 < pair.kappa < 1
    assert "j" in db.settings_line(rep) and "500 bootstrap" in db.settings_line(rep)
