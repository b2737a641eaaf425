"""`saferlhf benchmark`: sample base and RL policy on every configured benchmark file, judge every response with
every configured judge, and write `<output_root>/benchmarks/report.json` (BenchmarkReport), records.jsonl (one
line per response with each judge's verdict) and plots/<benchmark>.png."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from saferlhf.artifacts import Layout, resolve
from saferlhf.benchmarks.judges import JUDGES, Verdict, agreement, failure
from saferlhf.benchmarks.loaders import Benchmark, load_benchmark, normalise_prompt
from saferlhf.benchmarks.report import (POLICIES, Agreement, BenchmarkReport, BenchmarkResult, draw_plots, gate,
                                        judge_result)
from saferlhf.config import BenchmarkConfig
from saferlhf.errors import UserError

log = logging.getLogger(__name__)
REPORT_FILE = "report.json"
RECORDS_FILE = "records.jsonl"


def load_benchmarks(cfg: BenchmarkConfig) -> list[Benchmark]:
    """Every configured file, capped at max_prompts; names made unique by file stem."""
    from saferlhf.evaluate import stratified_head

    if not cfg.files:
        raise UserError("benchmark: no benchmark files configured (benchmark.files in the YAML, or --files "
                        "[format[:expect]=]path,...)")
    out, names = [], set()
    for f in cfg.files:
        b = load_benchmark(f.path, f.format, f.expect, f.name)
        name = b.name if b.name not in names else f"{b.name}-{Path(f.path).stem}"
        if name in names:
            raise UserError(f"benchmark: two files are named {name!r}; give each a distinct name")
        names.add(name)
        # round-robin over (expect, category): a cap keeps both behaviours of a mixed set such as XSTest
        items = pd.DataFrame([{"id": i.id, "category": f"{i.expect}/{i.category}"} for i in b.items])
        kept = stratified_head(items, cfg.max_prompts)
        out.append(Benchmark(name, b.format, b.path, tuple(i for i in b.items if i.id in set(kept["id"]))))
    return out


def training_prompts(layout: Layout) -> set[str]:
    """Normalised prompts of the generated dataset (empty when it is not there)."""
    if not layout.prompts.is_file():
        return set()
    return {normalise_prompt(p["prompt"]) for p in json.loads(layout.prompts.read_text(encoding="utf-8"))}


def sample(cfg: BenchmarkConfig, layout: Layout, prompts: list[str]) -> dict[str, list[str]]:
    """Per policy, cfg.samples responses per prompt: the prompt list repeated `samples` times, sampled in one go."""
    from saferlhf.evaluate.rollout import policy_generator

    paths = {"base_model": resolve(cfg.base_policy_path, layout.base_policy),
             "rl_model": resolve(cfg.rl_policy_path, layout.rl_policy)}
    out = {}
    for model, path in paths.items():
        t0 = time.time()
        generate, _, _ = policy_generator(path, cfg.sampling, cfg.seed)
        out[model] = generate(prompts * cfg.samples)
        log.info("benchmark: %s sampled %d responses in %.1f s", model, len(out[model]), time.time() - t0)
    return out


def judge_all(cfg: BenchmarkConfig, layout: Layout, prompts: list[str], responses: list[str]) -> dict[str, list[Verdict]]:
    verdicts = {}
    for name in cfg.judges:
        t0 = time.time()
        verdicts[name] = JUDGES[name](cfg, layout)(prompts, responses)
        log.info("benchmark: judge %s judged %d responses in %.1f s", name, len(responses), time.time() - t0)
    return verdicts


def build_records(benchmarks: list[Benchmark], cfg: BenchmarkConfig, layout: Layout) -> pd.DataFrame:
    """One row per (benchmark, prompt, policy, sample): text, and per judge `<judge>.unsafe/.refused/.score/.fail`."""
    rows = [{"benchmark": b.name, "id": i.id, "category": i.category, "expect": i.expect, "prompt": i.prompt}
            for b in benchmarks for i in b.items]
    position = {p: k for k, p in enumerate(dict.fromkeys(r["prompt"] for r in rows))}  # benchmarks may share prompts
    responses = sample(cfg, layout, list(position))  # per policy: samples x len(position), sample-major
    records = [{**r, "model": m, "sample": s, "response": responses[m][s * len(position) + position[r["prompt"]]]}
               for m in POLICIES for s in range(cfg.samples) for r in rows]
    verdicts = judge_all(cfg, layout, [r["prompt"] for r in records], [r["response"] for r in records])
    for name, vs in verdicts.items():
        for r, v in zip(records, vs):
            r.update({f"{name}.unsafe": v.unsafe, f"{name}.refused": v.refused, f"{name}.score": v.score,
                      f"{name}.fail": failure(v, r["expect"])})
    return pd.DataFrame(records).astype(object).where(lambda d: d.notna(), None)


def benchmark_result(b: Benchmark, records: pd.DataFrame, cfg: BenchmarkConfig, seen: set[str],
                     rng: np.random.Generator) -> BenchmarkResult:
    rec = records[records["benchmark"] == b.name]
    verdicts = {j: [Verdict(u, r) for u, r in zip(rec[f"{j}.unsafe"], rec[f"{j}.refused"])] for j in cfg.judges}
    return BenchmarkResult(
        name=b.name, format=b.format, path=b.path, n_prompts=len(b.items),
        n_should_refuse=sum(i.expect == "refuse" for i in b.items),
        n_should_answer=sum(i.expect == "answer" for i in b.items),
        in_training_data=sum(normalise_prompt(i.prompt) in seen for i in b.items),
        judges=[judge_result(rec, j, cfg.bootstrap, rng) for j in cfg.judges],
        agreement=[Agreement(**a) for a in agreement(verdicts, rec["expect"].tolist())])


def run_benchmark(cfg: BenchmarkConfig, layout: Layout) -> BenchmarkReport:
    """`saferlhf benchmark`: the typed report (also written to <output_dir>/report.json)."""
    from saferlhf.io import write_json, write_text

    t0 = time.time()
    out_dir = resolve(cfg.output_dir, layout.benchmarks)
    benchmarks = load_benchmarks(cfg)
    log.info("benchmark: %s", ", ".join(f"{b.name} ({len(b.items)} prompts)" for b in benchmarks))
    records = build_records(benchmarks, cfg, layout)
    seen = training_prompts(layout)
    rng = np.random.default_rng(cfg.seed)
    results = [benchmark_result(b, records, cfg, seen, rng) for b in benchmarks]
    for r in results:
        if r.in_training_data:
            log.warning("benchmark: %d prompts of %s are in the generated dataset: its figures are not held out",
                        r.in_training_data, r.name)
    write_text(out_dir / RECORDS_FILE, "".join(json.dumps(r) + "\n" for r in records.to_dict("records")))
    report = BenchmarkReport(judges=list(cfg.judges), samples=cfg.samples, max_new_tokens=cfg.sampling.max_new_tokens,
                             temperature=cfg.sampling.temperature, bootstrap=cfg.bootstrap, seed=cfg.seed, benchmarks=results,
                             gate=gate(results), records_path=str(out_dir / RECORDS_FILE),
                             plots=draw_plots(results, out_dir / "plots"), seconds=round(time.time() - t0, 1))
    write_json(out_dir / REPORT_FILE, report.model_dump(mode="json"))
    for b in results:
        for j in b.judges:
            for m in j.overall:
                log.info("benchmark: %s / %s: %s base %s -> RL %s", b.name, j.judge, m.metric, _pct(m.base),
                         _pct(m.rl))
    log.info("benchmark: gate %s (%d regressions) -> %s", "passed" if report.gate.passed else "FAILED",
             len(report.gate.regressions), out_dir / REPORT_FILE)
    return report


def _pct(rate) -> str:
    if rate.value is None:
        return "n/a"
    return f"{100 * rate.value:.1f}% [{100 * rate.ci_low:.1f}, {100 * rate.ci_high:.1f}] (n={rate.n})"


def headline(report: BenchmarkReport) -> dict:
    """What the CLI prints (and MLflow logs as metrics): per benchmark, judge and metric, base, RL and the CI of
    the difference; the gate."""
    figures = {b.name: {j.judge: {m.metric: {"base": m.base.value, "rl": m.rl.value, "n": m.base.n,
                                             "difference_ci": [m.difference.ci_low, m.difference.ci_high]}
                                  for m in j.overall} for j in b.judges} for b in report.benchmarks}
    return {"benchmarks": figures, "gate_passed": report.gate.passed, "regressions": len(report.gate.regressions),
            "report_path": str(Path(report.records_path).with_name(REPORT_FILE)), "seconds": report.seconds}
