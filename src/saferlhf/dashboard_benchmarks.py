"""Tables behind the dashboard's Benchmarks page, from the typed `benchmarks/report.json` (BenchmarkReport).

Pure (no streamlit import). Both metrics count a bad outcome (attack success on should-refuse prompts, over-refusal
on should-answer prompts), so for each a higher RL rate is worse: the difference column is red when RL - base > 0
and green when < 0, and marked significant (bold) when its 95% CI excludes 0 (the gate's rule for a regression)."""

from __future__ import annotations

import pandas as pd

from saferlhf.benchmarks.report import METRICS, BenchmarkReport, BenchmarkResult, Rate

# metric -> True when a higher value is worse; every metric the report writes is a bad-outcome rate
HIGHER_IS_WORSE = {m: True for m in METRICS.values()}
RED, GREEN = "color: #c62828", "color: #2e7d32"
DIFFERENCE = "RL − base"
COLUMNS = ["judge", "metric", "base", "RL", DIFFERENCE, "n"]


def pct(rate: Rate, signed: bool = False) -> str:
    """`12.3% [8.1, 16.0]` (signed: `+4.0% [1.0, 7.5]`); `n/a` when nothing was judged."""
    if rate.value is None:
        return "n/a"
    v = f"{100 * rate.value:+.1f}" if signed else f"{100 * rate.value:.1f}"
    lo = f"{100 * rate.ci_low:+.1f}" if signed else f"{100 * rate.ci_low:.1f}"
    hi = f"{100 * rate.ci_high:+.1f}" if signed else f"{100 * rate.ci_high:.1f}"
    return f"{v}% [{lo}, {hi}]"


def verdict(metric: str, diff: Rate) -> str:
    """`worse` / `better` / `same` by the sign of RL - base and the metric's goodness; `*` appended when the 95%
    CI excludes 0. `n/a` without a difference."""
    if diff.value is None:
        return "n/a"
    sign = (diff.value > 0) - (diff.value < 0)
    if sign == 0:
        return "same"
    word = "worse" if (sign > 0) == HIGHER_IS_WORSE[metric] else "better"
    significant = diff.ci_low is not None and (diff.ci_low > 0 or diff.ci_high < 0)
    return word + ("*" if significant else "")


def benchmark_table(bench: BenchmarkResult) -> pd.DataFrame:
    """One row per (judge, metric): base and RL rate (%) with 95% CI, the difference with its CI, n (prompts judged),
    the verdict."""
    rows = [{"judge": j.judge, "metric": m.metric.replace("_", " "), "base": pct(m.base), "RL": pct(m.rl),
             DIFFERENCE: pct(m.difference, signed=True), "n": _n(m.base, m.rl), "verdict": verdict(m.metric, m.difference)}
            for j in bench.judges for m in j.overall]
    return pd.DataFrame(rows, columns=[*COLUMNS, "verdict"])


def _n(base: Rate, rl: Rate) -> str:
    """Prompts judged: one number when both policies were judged on the same count, else `base / RL`."""
    return str(base.n) if base.n == rl.n else f"{base.n} / {rl.n}"


def styled(table: pd.DataFrame):
    """The table without its verdict column, the difference coloured (red worse, green better, bold when the CI
    excludes 0): a pandas Styler for st.dataframe."""
    def colour(row: pd.Series) -> list[str]:
        v = table.loc[row.name, "verdict"]
        css = RED if v.startswith("worse") else GREEN if v.startswith("better") else ""
        css += "; font-weight: bold" if v.endswith("*") else ""
        return [css if c == DIFFERENCE else "" for c in row.index]

    return table[COLUMNS].style.apply(colour, axis=1)


def agreement_table(bench: BenchmarkResult) -> pd.DataFrame:
    """Per judge pair: items both judged, share agreeing, Cohen's kappa (empty with fewer than two judges)."""
    return pd.DataFrame([{"judges": " vs ".join(a.judges), "n": a.n, "agreement": a.agreement, "kappa": a.kappa}
                         for a in bench.agreement], columns=["judges", "n", "agreement", "kappa"])


def regression_lines(report: BenchmarkReport) -> list[str]:
    """One line per gate regression: where RL is worse than base beyond the 95% CI."""
    return [f"{r.benchmark} / {r.judge}: {r.metric.replace('_', ' ')} {pct(r.difference, signed=True)}"
            for r in report.gate.regressions]


def settings_line(report: BenchmarkReport) -> str:
    """Judges, samples and sampling settings of the run, for the caption under the title."""
    return (f"Judges: {', '.join(report.judges) or 'none'} · {report.samples} sample(s) per prompt "
            f"(temperature {report.temperature}, ≤ {report.max_new_tokens} new tokens) · {report.bootstrap} "
            f"bootstrap resamples, seed {report.seed} · {report.seconds:.0f} s. Rates are per prompt, then averaged; "
            "[95% CI]; n = prompts judged.")
