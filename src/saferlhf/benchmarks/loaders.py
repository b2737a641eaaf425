"""Loaders for the published safety benchmark files, read from local disk (CSV, JSONL, JSON, Parquet).

Each format maps its own columns onto one record shape, `BenchmarkItem(id, prompt, category, expect)`, and declares
what a safe model should do with its prompts: `refuse` (red-team sets: HarmBench, AdvBench, JailbreakBench,
StrongREJECT, Do-Not-Answer), `answer` (over-refusal sets: OR-Bench), or per row (XSTest's `label` column:
safe -> answer, unsafe -> refuse). A file that does not match its format fails with one line naming the file, the
row (and file line for CSV/JSONL) and the problem (UserError -> exit code 2).

Column names are those of the published files:
  HarmBench  harmbench_behaviors_text_*.csv  Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID
  AdvBench   harmful_behaviors.csv           goal,target
  JailbreakBench  harmful-behaviors.csv / benign-behaviors.csv   Index,Goal,Target,Behavior,Category,Source
  StrongREJECT  strongreject_dataset.csv     category,source,forbidden_prompt
  Do-Not-Answer  do_not_answer_en.csv/.jsonl id,risk_area,types_of_harm,specific_harms,question
  XSTest     xstest_prompts.csv              id,prompt,type,label,focus,note
  OR-Bench   or-bench-hard-1k.csv / or-bench-toxic.csv   prompt,category
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saferlhf.errors import UserError

Expect = Literal["refuse", "answer"]


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    prompt: str
    category: str
    expect: Expect


@dataclass(frozen=True)
class Benchmark:
    name: str
    format: str
    path: str
    items: tuple[BenchmarkItem, ...]


@dataclass(frozen=True)
class Format:
    """How one published file maps onto BenchmarkItem."""

    required: tuple[str, ...]  # columns the published file always has (a file without them is not this format)
    prompt: str
    category: str | None = None  # None: every item gets the format's name as category
    id: str | None = None  # None (or missing in the file): ids are <format>-<row>
    expect: Expect | None = "refuse"  # None: per row from `label_column`
    label_column: str | None = None
    labels: dict[str, Expect] = field(default_factory=dict)
    context: str | None = None  # HarmBench's ContextString: prepended to the behaviour when present


FORMATS: dict[str, Format] = {
    "harmbench": Format(("Behavior", "FunctionalCategory", "SemanticCategory", "BehaviorID"), "Behavior",
                        "SemanticCategory", "BehaviorID", context="ContextString"),
    "advbench": Format(("goal", "target"), "goal"),
    # the benign-behaviors.csv of JBB-Behaviors has the same columns: load it with expect=answer
    "jailbreakbench": Format(("Goal", "Target", "Behavior", "Category", "Source"), "Goal", "Category", "Index"),
    "strongreject": Format(("category", "source", "forbidden_prompt"), "forbidden_prompt", "category"),
    "donotanswer": Format(("id", "risk_area", "types_of_harm", "specific_harms", "question"), "question",
                          "risk_area", "id"),
    "xstest": Format(("id", "prompt", "type", "label"), "prompt", "type", "id", expect=None, label_column="label",
                     labels={"safe": "answer", "unsafe": "refuse"}),
    # or-bench-hard-1k / or-bench-80k are seemingly-toxic but benign; or-bench-toxic is loaded with expect=refuse
    "orbench": Format(("prompt", "category"), "prompt", "category", expect="answer"),
}
PROJECT_FORMAT = "prompts"  # the project's own prompt files (saferlhf.data.loader.load_prompts)
FORMAT_NAMES = (*FORMATS, PROJECT_FORMAT)


def _read_records(path: Path) -> tuple[list[str], list[tuple[str, dict]]]:
    """(columns, [(where, row)]) of a CSV/JSONL/JSON/Parquet file; `where` is 'row N (line L)' or 'row N'."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise UserError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
        return [str(c) for c in df.columns], [(f"row {i + 1}", r) for i, r in enumerate(df.to_dict("records"))]
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports start with a BOM
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if suffix in (".jsonl", ".json"):
        if suffix == ".json":
            from saferlhf.data.loader import json_list

            rows = [(f"row {i + 1}", r) for i, r in enumerate(json_list(path, text, "records"))]
        else:
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append((f"row {len(rows) + 1} (line {n})", json.loads(line)))
                    except json.JSONDecodeError as e:
                        raise UserError(f"{path}: line {n}: invalid JSON ({e.msg})") from None
        for where, r in rows:
            if not isinstance(r, dict):
                raise UserError(f"{path}: {where}: expected an object, got {type(r).__name__}")
        columns = list(dict.fromkeys(k for _, r in rows for k in r))
        return columns, rows
    reader = csv.DictReader(text.splitlines(keepends=True))
    rows, line = [], 2  # line of the first record (header = line 1); quoted fields may span lines
    try:
        for n, r in enumerate(reader, 1):
            if None in r:  # more fields than the header names
                raise UserError(f"{path}: row {n} (line {line}): {len(r) - 1 + len(r[None])} fields, the header "
                                f"has {len(reader.fieldnames)}")
            rows.append((f"row {n} (line {line})", r))
            line = reader.line_num + 1
    except csv.Error as e:
        raise UserError(f"{path}: line {reader.line_num}: not valid CSV ({e})") from None
    return list(reader.fieldnames or []), rows


def detect_format(columns: list[str]) -> str | None:
    """The format whose required columns the file has (the most specific one when several fit)."""
    fits = [name for name, f in FORMATS.items() if set(f.required) <= set(columns)]
    return max(fits, key=lambda n: len(FORMATS[n].required)) if fits else None


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()


def _map_rows(path: Path, fmt_name: str, fmt: Format, rows: list[tuple[str, dict]],
              expect: Expect | None) -> list[BenchmarkItem]:
    items, seen = [], set()
    for n, (where, r) in enumerate(rows, 1):
        prompt = _text(r.get(fmt.prompt))
        if not prompt:
            raise UserError(f"{path}: {where}: empty {fmt.prompt}")
        if fmt.context and _text(r.get(fmt.context)):
            # HarmBench's own test-case layout for contextual behaviours: context, separator, request
            prompt = f"{_text(r[fmt.context])}\n\n---\n\n{prompt}"
        row_expect = expect or fmt.expect
        if row_expect is None:
            label = _text(r.get(fmt.label_column)).lower()
            if label not in fmt.labels:
                raise UserError(f"{path}: {where}: {fmt.label_column} must be {' or '.join(fmt.labels)}, "
                                f"got {r.get(fmt.label_column)!r}")
            row_expect = fmt.labels[label]
        item_id = _text(r.get(fmt.id)) if fmt.id else ""
        item_id = item_id or f"{fmt_name}-{n:04d}"
        if item_id in seen:
            raise UserError(f"{path}: {where}: duplicate {fmt.id or 'id'} {item_id!r}")
        seen.add(item_id)
        category = (_text(r.get(fmt.category)) if fmt.category else "") or fmt_name
        items.append(BenchmarkItem(item_id, prompt, category, row_expect))
    return items


def _project_items(path: Path, expect: Expect | None) -> list[BenchmarkItem]:
    from saferlhf.data.loader import load_prompts
    from saferlhf.refusal import expected_behaviour

    items = []
    for p in load_prompts(path):
        e = expect or expected_behaviour(p["category"])
        if e is None:
            raise UserError(f"{path}: prompt {p['id']!r}: category {p['category']!r} does not say whether it "
                            "should be refused or answered; give the file an expect (refuse or answer)")
        items.append(BenchmarkItem(p["id"], p["prompt"], p["category"], e))
    return items


def load_benchmark(path: str | Path, format: str = "auto", expect: Expect | None = None,
                   name: str | None = None) -> Benchmark:
    """Read one benchmark file. `format` is one of FORMAT_NAMES or `auto` (by the header's columns);
    `expect` overrides the format's declared behaviour (JBB benign split: answer; OR-Bench toxic: refuse)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    if format not in (*FORMAT_NAMES, "auto"):
        raise UserError(f"{path}: unknown benchmark format {format!r} (known: {', '.join(FORMAT_NAMES)}, auto)")
    if format == PROJECT_FORMAT:
        items = _project_items(path, expect)
    else:
        columns, rows = _read_records(path)
        if format == "auto":
            format = detect_format(columns) or (PROJECT_FORMAT if "prompt" in columns else "")
            if not format:
                raise UserError(f"{path}: no benchmark format matches its columns ({', '.join(columns) or 'none'}); "
                                f"known: {', '.join(FORMAT_NAMES)}")
            if format == PROJECT_FORMAT:
                return load_benchmark(path, PROJECT_FORMAT, expect, name)
        fmt = FORMATS[format]
        missing = [c for c in fmt.required if c not in columns]
        if missing:
            raise UserError(f"{path}: not a {format} file: missing column(s) {', '.join(missing)} "
                            f"(has: {', '.join(columns) or 'none'})")
        items = _map_rows(path, format, fmt, rows, expect)
    if not items:
        raise UserError(f"{path}: no rows")
    return Benchmark(name or format, format, str(path), tuple(items))


def normalise_prompt(text: str) -> str:
    """Lower case, curly quotes straightened, punctuation and runs of whitespace collapsed: two prompts that
    differ only in those are the same prompt (used by the held-out check)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    return " ".join(re.findall(r"[a-z0-9']+", text))
