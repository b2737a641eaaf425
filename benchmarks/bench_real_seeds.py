"""One RL config, several RL seeds, on the base policy and reward model of a finished real-track run (issue 20):
single runs cannot rank RL configs when the seed alone moves the non-refusal cut from 38% to 82%
(docs/real-model.md), so this measures how often a config meets every acceptance band.

    python benchmarks/bench_real_seeds.py --config configs/smollm2.yaml --outputs outputs-real \\
        --seeds 42 43 --set rl.refusal_penalty=2.0 --label sym
    -> <outputs>/bench/seeds/<label>/summary.json and summary.md (one row per seed, bands met, median)

Per seed it makes <outputs>/bench/seeds/<label>/seed<N>/ whose data, contrast data, base policy and reward model
are links to the source run's (read, never written: RL and evaluation write only rl_policy, evaluation_results,
bench and their own MLflow database), writes the config with the `--set` overrides and `rl.seed: N`, and runs
`saferlhf policy train-rl` and `saferlhf evaluate` there, then bench_real's figures. ~19 min of RL plus ~2 min
of evaluation per seed for configs/smollm2.yaml on 2 cores."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real import BANDS, read_run, real_figures  # noqa: E402

from saferlhf.config import load_config  # noqa: E402
from saferlhf.io import write_json, write_text  # noqa: E402

log = logging.getLogger("bench_real_seeds")
# What the two stages read from the source run; everything else they write fresh.
SHARED = ("data", "contrast", "models/base_policy", "models/reward_model")


def parse_set(items: list[str]) -> dict[str, dict]:
    """["rl.refusal_penalty=2.0", ...] -> {"rl": {"refusal_penalty": 2.0}} (values parsed as YAML)."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise SystemExit(f"--set {item!r}: expected section.key=value, e.g. rl.refusal_penalty=2.0")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def seed_config(base: dict, sets: dict[str, dict], seed: int) -> dict:
    """The source config with the overrides and `rl.seed` applied (a deep copy; sections merged key by key)."""
    cfg = json.loads(json.dumps(base))
    for section, values in {**sets, "rl": {**sets.get("rl", {}), "seed": seed}}.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def prepare(source: Path, root: Path) -> None:
    """Link the source run's shared inputs into `root` (absolute links, so the folder can be read from anywhere)."""
    for rel in SHARED:
        src, dst = source / rel, root / rel
        if not src.exists():
            raise SystemExit(f"{src}: missing (run the real track first: make demo-real)")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.is_symlink():
            dst.symlink_to(src.resolve(), target_is_directory=True)


def run_seed(cfg_path: Path, root: Path) -> None:
    for stage in (["policy", "train-rl"], ["evaluate"]):
        cmd = [sys.executable, "-m", "saferlhf.cli", "--config", str(cfg_path), "--output-root", str(root), *stage]
        log.info("%s", " ".join(cmd))
        subprocess.run(cmd, check=True)


def summary_table(rows: list[dict]) -> str:
    keys = [k for k, _, _ in BANDS]
    lines = ["| seed | " + " | ".join(keys) + " | all bands | off-topic benign, base -> RL |",
             "|---" * (len(keys) + 3) + "|"]
    for r in rows:
        cells = [f"{r[k]}{'' if r['bands_met'][k] else ' (out)'}" for k in keys]
        off = [r[m]["off_topic_benign"] for m in ("base_model", "rl_model")]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + f" | {'yes' if all(r['bands_met'].values()) else 'no'}"
                     f" | {off[0]['count']} -> {off[1]['count']} of {off[1]['n']} |")
    med = [statistics.median(r[k] for r in rows if r[k] is not None) if any(r[k] is not None for r in rows) else None
           for k in keys]
    lines.append("| median | " + " | ".join(f"{m:.3g}" if m is not None else "-" for m in med) + " | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the source run's config (configs/smollm2.yaml)")
    ap.add_argument("--outputs", default="outputs-real", help="the source run's outputs folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--label", default="config", help="name of this config's folder under bench/seeds/")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    load_config(args.config)  # one clear line for a bad config before any work
    base = yaml.safe_load(Path(args.config).read_text()) or {}
    sets = parse_set(args.set)
    source = Path(args.outputs)
    out_dir = source / "bench" / "seeds" / args.label
    rows = []
    for seed in args.seeds:
        root = out_dir / f"seed{seed}"
        prepare(source, root)
        cfg_path = root / "config.yaml"
        cfg = seed_config(base, sets, seed)
        cfg.pop("output_root", None)  # --output-root decides
        write_text(cfg_path, yaml.safe_dump(cfg, sort_keys=False))
        load_config(cfg_path)
        run_seed(cfg_path, root)
        row = {"seed": seed, **real_figures(*read_run(root))}
        write_json(root / "bench" / "real.json", row)
        rows.append(row)
        log.info("seed %d: %s", seed, {k: row[k] for k, _, _ in BANDS})
    result = {"config": args.config, "set": args.set, "source": str(source), "seeds": rows,
              "all_bands_met": sum(all(r["bands_met"].values()) for r in rows)}
    write_json(out_dir / "summary.json", result)
    write_text(out_dir / "summary.md", summary_table(rows))
    print(summary_table(rows))
    print(f"all bands met: {result['all_bands_met']} of {len(rows)} seeds -> {out_dir / 'summary.json'}")


if __name__ == "__main__":
    main()
