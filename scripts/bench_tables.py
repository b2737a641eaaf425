"""Render docs/benchmarks.md's tables from the benchmark results (outputs/bench/*.json): one section per result
file with its date, machine and headline figures (acceptance verdicts first where the bench wrote them).

    python scripts/bench_tables.py [--bench outputs/bench] [--out docs/benchmarks.md]

Only the block between the two markers is rewritten; the prose around it (what each bench measures, how to read
it) stays hand-written."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path

BEGIN, END = "<!-- bench-tables:begin -->", "<!-- bench-tables:end -->"
MAX_ROWS = 30


def _leaves(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d):
        yield prefix, d


def section(path: Path) -> str:
    """Markdown for one result file: acceptance table (value, target, verdict) or its numeric leaves."""
    data = json.loads(path.read_text())
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = data.get("machine") if isinstance(data, dict) else None
    lines = [f"### `{path.name}`", "", f"Written {when}" + (f"; machine: `{json.dumps(machine)}`" if machine else ""),
             ""]
    acc = data.get("acceptance") if isinstance(data, dict) else None
    if isinstance(acc, dict) and acc and all(isinstance(v, dict) for v in acc.values()):
        lines += ["| figure | value | target | verdict |", "|---|---|---|---|"]
        lines += [f"| {k} | {_fmt(v.get('value'))} | {v.get('target', '')} | {'PASS' if v.get('pass') else 'FAIL'} |"
                  for k, v in acc.items()]
    else:
        rows = [(k, v) for k, v in _leaves(data) if not k.startswith("machine")][:MAX_ROWS]
        lines += ["| figure | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render(bench: Path) -> str:
    files = sorted(bench.glob("*.json")) if bench.is_dir() else []
    if not files:
        return f"_No results in `{bench}` yet: run the `make bench-*` targets, then this script._\n"
    return "\n".join(section(f) for f in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=Path("outputs/bench"))
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    text = args.out.read_text() if args.out.is_file() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        print(f"error: {args.out} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(f"{head}{BEGIN}\n{render(args.bench)}{END}{tail}")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
