"""Validating loaders for the labelled dataset and for user prompt files (JSON, JSONL, CSV, plain text).

Every problem is one line naming the file, the row and what is wrong (raised as UserError -> exit code 2).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from saferlhf.errors import UserError

LABEL_COLUMNS = ["safety_score", "toxicity_score", "hallucination_risk", "compliance_score"]
REQUIRED_LABEL_COLUMNS = ["id", "prompt", "response", *LABEL_COLUMNS]


def _must_exist(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"{path}: file not found")


def load_labels(path: str | Path) -> pd.DataFrame:
    """Read safety_labels.csv and check its schema: required columns, non-empty text, unique ids, scores in [0,1].

    Row numbers in messages are the file's line numbers (header = line 1)."""
    path = Path(path)
    _must_exist(path)
    try:
        df = pd.read_csv(path, dtype={"id": str, "prompt": str, "response": str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise UserError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    missing = [c for c in REQUIRED_LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns))})")
    if df.empty:
        raise UserError(f"{path}: no rows")
    for col in ("id", "prompt", "response"):
        empty = df.index[df[col].astype(str).str.strip() == ""]
        if len(empty):
            raise UserError(f"{path}: row {empty[0] + 2}: empty {col}")
    dup = df.index[df["id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: row {dup[0] + 2}: duplicate id {df['id'][dup[0]]!r}")
    for col in LABEL_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df.index[values.isna() | (values < 0) | (values > 1)]
        if len(bad):
            raise UserError(f"{path}: row {bad[0] + 2}: {col} must be a number in [0, 1], got {df[col][bad[0]]!r}")
        df[col] = values.astype(float)
    return df


def load_prompts(path: str | Path) -> list[dict]:
    """Read a prompt file as `[{"id", "prompt", "category"?}]`.

    Formats by extension: .json (list of strings or objects with `prompt`), .jsonl (one object or string per
    line), .csv (a `prompt` column), anything else plain text with one prompt per line (blank lines skipped)."""
    path = Path(path)
    _must_exist(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start})") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        records = [(i + 1, item) for i, item in enumerate(json_list(path, text, "prompts"))]
        where = "item"
    elif suffix == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}: line {n}: invalid JSON ({e.msg})") from None
        where = "line"
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise UserError(f"{path}: missing column prompt (has: {', '.join(reader.fieldnames or [])})")
        records = [(n + 2, row) for n, row in enumerate(reader)]
        where = "row"
    else:
        records = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        where = "line"
    prompts, seen = [], set()
    for n, item in records:
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise UserError(f"{path}: {where} {n}: expected a string or an object with 'prompt'")
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"{path}: {where} {n}: empty or missing prompt")
        pid = str(item.get("id") or f"u{len(prompts):04d}")
        if pid in seen:
            raise UserError(f"{path}: {where} {n}: duplicate id {pid!r}")
        seen.add(pid)
        prompts.append({"id": pid, "prompt": prompt.strip(), "category": item.get("category") or "user"})
    if not prompts:
        raise UserError(f"{path}: no prompts")
    return prompts


def prompt_table(labels: pd.DataFrame) -> pd.DataFrame:
    """One row per prompt (id, prompt, category, split) from the labelled CSV."""
    cols = [c for c in ("prompt_id", "prompt", "category", "split") if c in labels.columns]
    out = labels.drop_duplicates("prompt_id" if "prompt_id" in labels else "prompt")[cols]
    out = out.rename(columns={"prompt_id": "id"})
    if "id" not in out:
        out["id"] = [f"p{i:04d}" for i in range(len(out))]
    if "category" not in out:
        out["category"] = "user"
    return out.reset_index(drop=True)


def json_list(path: Path, text: str, what: str) -> list:
    """A JSON file's top-level list; one-line UserError naming the file (and line) otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of {what}, got {type(data).__name__}")
    return data
