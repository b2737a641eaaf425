"""CLI: --help on every command (walked from the Click tree, so new commands are covered), one-line errors."""

import subprocess
import sys

import pytest
import typer.main

from saferlhf.cli import app


def _commands(cmd, path=()):
    yield path
    if hasattr(cmd, "commands"):  # a group (Typer vendors its own click classes)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))


ALL = list(_commands(typer.main.get_command(app)))


def test_command_tree_is_walked():
    assert ("reward", "train") in ALL and ("data", "generate") in ALL and len(ALL) > 10


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) or "root" for p in ALL])
def test_help_everywhere(path):
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def _run(*args):
    return subprocess.run([sys.executable, "-m", "saferlhf.cli", *args], capture_output=True, text=True, timeout=120)


def test_bad_flag_value_is_one_line_exit_2(tmp_path):
    r = _run("--output-root", str(tmp_path), "reward", "train", "--batch-size", "0")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "batch_size" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_option_is_a_usage_error_not_a_traceback():
    r = _run("data", "generate", "--no-such-flag")
    assert r.returncode == 2 and "No such option" in r.stderr and "Traceback" not in r.stderr


def test_missing_config_file(tmp_path):
    r = _run("--config", str(tmp_path / "nope.yaml"), "data", "generate")
    assert r.returncode == 2 and "config file not found" in r.stderr and "Traceback" not in r.stderr


def test_missing_dataset_is_one_line(tmp_path):
    r = _run("--output-root", str(tmp_path), "reward", "train")
    assert r.returncode == 2 and "safety_labels.csv: file not found" in r.stderr


def test_data_generate_and_validate(tmp_path):
    r = _run("--output-root", str(tmp_path), "data", "generate", "--n-benign", "100")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "prompts.json").is_file()
    r = _run("data", "validate", str(tmp_path / "data" / "safety_labels.csv"))
    assert r.returncode == 0 and "ok (" in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prompt,response,safety_score,toxicity_score,hallucination_risk,compliance_score\nr,p,q,2,0,0,0\n")
    r = _run("data", "validate", str(bad))
    assert r.returncode == 2 and "row 2: safety_score" in r.stderr


def test_adapters_are_never_imported_from_the_working_directory(tmp_path):
    """`saferlhf pipeline compile` run inside an untrusted folder that holds its own `pipelines/` package uses the
    installed adapters, not that folder's code."""
    from pathlib import Path

    evil = tmp_path / "untrusted"
    (evil / "pipelines").mkdir(parents=True)
    for name in ("__init__.py", "runner.py", "saferlhf_pipeline.py"):
        (evil / "pipelines" / name).write_text("raise SystemExit('EXECUTED-UNTRUSTED-CODE')\n")
    exe = Path(sys.executable).with_name("saferlhf")
    r = subprocess.run([str(exe), "pipeline", "compile", "-o", str(tmp_path / "out")], cwd=evil,
                       capture_output=True, text=True, timeout=120)
    assert "EXECUTED-UNTRUSTED-CODE" not in r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "saferlhf_pipeline.yaml").is_file()
