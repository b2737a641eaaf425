"""What a person watches during `saferlhf pipeline run`: one line per step as it starts and finishes (duration and
its headline numbers), the warnings that matter, nothing else. Everything the steps and kfp.local print (executor
JSON, per-node quantization chatter) goes to a log file whose path is printed first.

`captured(log_path, write)` sends this process's stdout and stderr (file descriptors 1 and 2, which the step
subprocesses inherit) to the log file and feeds every line to a `Progress`, which writes the summary lines through
`write` (the terminal's original stdout)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
START = re.compile(r"Executing task '([^']+)'")
DONE = re.compile(r"Task '([^']+)' finished with status (\w+)")
CACHED = re.compile(r"Task '?([\w-]+)'? cache hit")
# Warnings a person should see: the project's own, and any error line (never kfp's INFO chatter).
LOUD = re.compile(r"\b(WARNING|ERROR)\b.*\bsaferlhf\b|\bTraceback\b|\bError: ")
MAX_LINE = 220


def _task(name: str) -> str:
    return re.sub(r"-iteration-\d+$", "", name)


class Progress:
    """Turns kfp.local's log lines into one line per step. `headline(task)` gives the task's numbers to show."""

    def __init__(self, write: Callable[[str], None], headline: Callable[[str], str] = lambda task: "",
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.headline, self.clock = write, headline, clock
        self.started: dict[str, list[float]] = {}  # task -> start times not yet finished (oldest first)

    def feed(self, line: str) -> None:
        """One log line.

        >>> out = []; t = iter([0.0, 12.5])
        >>> p = Progress(out.append, lambda task: "acc 0.9", clock=lambda: next(t))
        >>> p.feed("10:00 - INFO - Executing task \\x1b[96m'train-reward'\\x1b[0m")
        >>> p.feed("10:01 - INFO - Task 'train-reward' finished with status \\x1b[92mSUCCESS\\x1b[0m")
        >>> out
        ['  > train-reward  started', '  + train-reward  done in 12 s  acc 0.9']

        A fan-out's items share a name: each finish is timed from the oldest start still open.

        >>> out = []; t = iter([0.0, 1.0, 100.0, 250.0])
        >>> p = Progress(out.append, clock=lambda: next(t))
        >>> start, done = "Executing task 'assess-policies'", "Task 'assess-policies' finished with status SUCCESS"
        >>> for line in [start, start, done, done]:
        ...     p.feed(line)
        >>> out[2:]
        ['  + assess-policies  done in 100 s', '  + assess-policies  done in 249 s']
        """
        text = ANSI.sub("", line).rstrip()
        if m := START.search(text):
            task = _task(m.group(1))
            self.started.setdefault(task, []).append(self.clock())
            self.write(f"  > {task}  started")
        elif m := DONE.search(text):
            task, status = _task(m.group(1)), m.group(2)
            now = self.clock()
            secs = now - (self.started.get(task) or [now]).pop(0)
            if status == "SUCCESS":
                numbers = self.headline(task)
                self.write(f"  + {task}  done in {secs:.0f} s" + (f"  {numbers}" if numbers else ""))
            else:
                self.write(f"  x {task}  {status} after {secs:.0f} s")
        elif m := CACHED.search(text):
            self.write(f"  = {_task(m.group(1))}  from the cache")
        elif LOUD.search(text):
            self.write("  ! " + text[:MAX_LINE])


def metrics_headline(root: Path, since: float, keys: Callable[[str], tuple[str, ...]]) -> Callable[[str], str]:
    """A `headline(task)` reading the task's KFP Metrics file (`<run>/<task>/metrics`, JSON) under `root` written
    after `since`, showing the metrics `keys(task)` names (at most three)."""

    def headline(task: str) -> str:
        files = [p for p in root.glob(f"*/{task}*/metrics") if p.is_file() and p.stat().st_mtime >= since - 1]
        if not files:
            return ""
        try:
            numbers = json.loads(max(files, key=lambda p: p.stat().st_mtime).read_text())
        except (OSError, ValueError):
            return ""
        shown = [(k, numbers[k]) for k in keys(task) if isinstance(numbers.get(k), (int, float))][:3]
        return ", ".join(f"{k.rsplit('.', 1)[-1] if len(k) > 24 else k} {v:.4g}" for k, v in shown)

    return headline


@contextlib.contextmanager
def captured(log_path: Path, progress: Progress) -> Iterator[None]:
    """Redirect fds 1 and 2 to `log_path` (children inherit them) while a thread tails it into `progress`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    done = threading.Event()

    def tail() -> None:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            buf = ""
            while True:
                chunk = f.read()
                if chunk:
                    buf += chunk
                    *lines, buf = buf.split("\n")
                    for line in lines:
                        progress.feed(line)
                elif done.is_set():
                    if buf:
                        progress.feed(buf)
                    return
                else:
                    time.sleep(0.2)

    reader = threading.Thread(target=tail, name="pipeline-progress", daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for s in saved:
            os.close(s)
        done.set()
        reader.join(timeout=10)


def terminal_writer(fd: int = 1) -> Callable[[str], None]:
    """A writer to the terminal (stdout, or stderr with fd=2) that survives `captured` (its own duplicate of fd)."""
    out = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    return lambda line: print(line, file=out, flush=True)
