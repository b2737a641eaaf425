"""`pipeline run`'s terminal output: kfp.local's log lines become one line per step; what child processes print
(they inherit the redirected file descriptors) lands in the log file, not on the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from saferlhf.pipeline.progress import Progress, captured, metrics_headline

# A step's process: kfp.local's lines (ANSI-coloured task names), executor chatter, a warning on stderr.
CHILD = r"""
import sys
print("10:00 - INFO - Executing task \x1b[96m'train-rl'\x1b[0m", flush=True)
print('{"executor": "json chatter"}', flush=True)
print("12:00 WARNING saferlhf.rl: KL above target", file=sys.stderr, flush=True)
print("10:01 - INFO - Task 'train-rl' finished with status SUCCESS", flush=True)
print("Task 'export-onnx' cache hit (key=abc); reusing outputs", flush=True)
"""


def test_child_output_goes_to_the_log_and_steps_to_the_terminal(tmp_path):
    shown: list[str] = []
    log = tmp_path / "logs" / "run.log"
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    with captured(log, Progress(shown.append, lambda task: "kl 0.1")):
        subprocess.run([sys.executable, str(child)], check=True)
        os.write(1, b"parent output also goes to the log\n")  # fd 1 (pytest swaps sys.stdout itself)
    text = log.read_text()
    assert "json chatter" in text and "parent output also goes to the log" in text
    assert shown[0] == "  > train-rl  started"
    assert shown[1].startswith("  ! 12:00 WARNING saferlhf.rl: KL above target")
    assert shown[2].startswith("  + train-rl  done in ") and shown[2].endswith("kl 0.1")
    assert shown[3] == "  = export-onnx  from the cache"
    assert not any("json chatter" in s for s in shown)


def test_a_failed_step_and_its_headline(tmp_path):
    run = tmp_path / "saferlhf-2026" / "train-reward"
    run.mkdir(parents=True)
    (run / "metrics").write_text(json.dumps({"pairwise_accuracy": 0.9876, "mae_max": 0.05, "ece_max": 0.02,
                                             "test_rows": 100}))
    headline = metrics_headline(tmp_path, 0.0, lambda task: ("pairwise_accuracy", "mae_max", "ece_max"))
    assert headline("train-reward") == "pairwise_accuracy 0.9876, mae_max 0.05, ece_max 0.02"
    assert headline("probe") == ""
    shown: list[str] = []
    p = Progress(shown.append)
    p.feed("Executing task 'probe'")
    p.feed("Task 'probe' finished with status FAILURE")
    assert shown[-1].startswith("  x probe  FAILURE after ")
