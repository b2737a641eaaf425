"""Find the servable model: a local ONNX folder or an MLflow registry URI, verified by sha256.

A bundle folder (what `saferlhf reward export-onnx` writes) holds model.onnx, model.int8.onnx,
tokenizer.json and reward_config.json. For `models:/NAME@ALIAS` or `models:/NAME/VERSION` the registry
version is resolved once, its artifacts are downloaded once, and verified before anything is served.

Verification: a passing export writes manifest.json, the sha256 of every file the scorer and the monitor read
(ONNX files, tokenizer, reward config with the reward weights, drift reference). At load every listed file must
match it; from the registry, manifest.json itself must match the version's `manifest_sha256` tag. Versions
registered before manifests fall back to the `onnx_sha256` / `onnx_sha256_fp32` tags of the served file."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from saferlhf.errors import UserError
from saferlhf.artifacts import REFERENCE_FILE  # the drift reference of the model a bundle came from
from saferlhf.io import file_sha256
from saferlhf.signals import DEFAULT_WEIGHTS, SIGNALS

log = logging.getLogger(__name__)

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
REWARD_CONFIG_FILE = "reward_config.json"
EXPORT_REPORT_FILE = "export_report.json"
SHA_TAG = "onnx_sha256"
FP32_SHA_TAG = "onnx_sha256_fp32"
MANIFEST_FILE = "manifest.json"
EXPORT_REPORT = "export_report.json"
MANIFEST_TAG = "manifest_sha256"
BUNDLE_FILES = (FP32_FILE, INT8_FILE, TOKENIZER_FILE, REWARD_CONFIG_FILE, REFERENCE_FILE)
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")


@dataclass(frozen=True)
class ModelBundle:
    """Everything the scorer needs, resolved to local files."""

    folder: Path
    onnx_path: Path
    tokenizer_path: Path
    max_length: int
    signals: tuple[str, ...]
    weights: tuple[float, ...]
    version: str
    sha256: str
    precision: str

    @property
    def torch_model_dir(self) -> Path:
        """The PyTorch reward model this export came from (its parent folder), for the baseline backend."""
        return self.folder.parent


def verify_sha256(path: str | Path, expected: str) -> str:
    """Raise UserError unless the file's sha256 equals `expected` (hex, case-insensitive); returns the digest."""
    got = file_sha256(path)
    if got != expected.strip().lower():
        raise UserError(f"{path}: sha256 {got} does not match the registry tag {SHA_TAG}={expected.strip()}; "
                        "refusing to serve a model that differs from the registered one")
    return got


def write_manifest(folder: Path) -> dict[str, str]:
    """manifest.json = {"files": {name: sha256}} over the BUNDLE_FILES present; returns the mapping."""
    from saferlhf.io import write_json

    files = {n: file_sha256(folder / n) for n in BUNDLE_FILES if (folder / n).is_file()}
    write_json(folder / MANIFEST_FILE, {"files": files})
    return files


def verify_manifest(folder: Path, expected_sha256: str | None = None) -> dict[str, str] | None:
    """Check every file listed in manifest.json (and the manifest against `expected_sha256` when given);
    None when the folder has no manifest. UserError naming the first file that differs."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    if expected_sha256 is not None and file_sha256(path) != expected_sha256.strip().lower():
        raise UserError(f"{path}: sha256 does not match the registry tag {MANIFEST_TAG}; refusing to serve files "
                        "that differ from the registered ones")
    try:
        files = json.loads(path.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a bundle manifest ({e})") from None
    for name, digest in files.items():
        if not (folder / name).is_file():
            raise UserError(f"{folder / name}: listed in {MANIFEST_FILE} but missing")
        if file_sha256(folder / name) != digest:
            raise UserError(f"{folder / name}: sha256 differs from {MANIFEST_FILE}; the bundle was changed after "
                            "its export (re-export it)")
    return files


def check_export(folder: Path) -> dict[str, str]:
    """What registration requires of an ONNX bundle: export_report.json says parity passed, and manifest.json
    lists the same hashes as the report and matches the files. Returns the manifest; UserError says why not."""
    report_path = folder / EXPORT_REPORT
    try:
        report = json.loads(report_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{report_path}: missing; export with `saferlhf reward export-onnx` before "
                        "registering") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{report_path}: invalid JSON ({e.msg})") from None
    if report.get("passed") is not True:
        failed = [f"{k} (max abs diff {report[k].get('max_abs_diff')}, tolerance {report[k].get('tolerance')})"
                  for k in ("fp32", "int8") if isinstance(report.get(k), dict) and not report[k].get("passed")]
        which = f": {', '.join(failed)}" if failed else ""
        raise UserError(f"{report_path}: the export failed its parity check{which}; refusing to register it")
    manifest = verify_manifest(folder)
    if manifest is None or manifest != report.get("manifest"):
        raise UserError(f"{folder}: {MANIFEST_FILE} is missing or differs from {EXPORT_REPORT}; the files are not "
                        "the ones that passed parity (re-export)")
    return manifest


def find_bundle_dir(root: Path) -> Path:
    """`root` itself, its onnx/ subfolder, or (downloaded MLflow artifacts) the first folder below with both
    an ONNX model and tokenizer.json."""
    for cand in (root, root / "onnx"):
        if _is_bundle(cand):
            return cand
    if root.is_dir():
        for tok in sorted(root.rglob(TOKENIZER_FILE)):
            if _is_bundle(tok.parent):
                return tok.parent
    raise UserError(f"{root}: no ONNX model bundle found (need {FP32_FILE} or {INT8_FILE} next to {TOKENIZER_FILE}; "
                    "create one with `saferlhf reward export-onnx`)")


def _is_bundle(d: Path) -> bool:
    return (d / TOKENIZER_FILE).is_file() and ((d / FP32_FILE).is_file() or (d / INT8_FILE).is_file())


def pick_onnx(folder: Path, precision: str) -> Path:
    """`int8` / `fp32` as asked; `auto` = INT8 when exported, usable and not slower than fp32 where the export
    timed both, else fp32 (one warning line when the export tried INT8 and reported it failed: export_report.json
    `int8.usable` false, no model.int8.onnx; or when it measured INT8 slower: `int8.speed.int8_speedup` < 1)."""
    names = {"fp32": [FP32_FILE], "int8": [INT8_FILE], "auto": [INT8_FILE, FP32_FILE]}[precision]
    failed = int8_failure(folder)
    if failed and precision == "int8":
        raise UserError(f"{folder}: INT8 export failed ({failed}); serve --precision fp32 or auto")
    slower = int8_slower(folder) if precision == "auto" and not failed else None
    if slower and (folder / FP32_FILE).is_file():
        log.warning("INT8 %s (see %s): serving fp32; --precision int8 serves it anyway", slower,
                    folder / EXPORT_REPORT_FILE)
        return folder / FP32_FILE
    for name in names:
        if (folder / name).is_file():
            if failed and name == FP32_FILE and precision == "auto":
                log.warning("INT8 unusable (%s, see %s): serving fp32", failed, folder / EXPORT_REPORT_FILE)
            return folder / name
    raise UserError(f"{folder}: no {' or '.join(names)} (precision={precision})")


def int8_failure(folder: Path) -> str | None:
    """Why INT8 cannot be served although the export tried it (export_report.json has an `int8` section), or
    None (INT8 fine, or never asked for)."""
    int8 = _report(folder).get("int8")
    if not isinstance(int8, dict):
        return None
    if not (int8.get("usable", True) and int8.get("passed", True)):
        return str(int8.get("reason") or "parity bound missed")
    return None if (folder / INT8_FILE).is_file() else f"{INT8_FILE} missing"


def int8_slower(folder: Path) -> str | None:
    """Why INT8 buys nothing on the CPU that exported it (it ran slower than fp32 there), or None. The export
    times both files on its own CPU; a server on another CPU family can force INT8 with --precision int8."""
    int8 = _report(folder).get("int8")
    speed = int8.get("speed") if isinstance(int8, dict) else None
    try:
        ratio = float(speed["int8_speedup"]) if isinstance(speed, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
    if ratio is None or ratio >= 1 or not (folder / INT8_FILE).is_file():
        return None
    cpu = speed.get("cpu_int8_instructions") or "no VNNI"
    return f"ran at {ratio:.2f}x fp32 speed on the exporting CPU ({cpu})"


def _report(folder: Path) -> dict:
    try:  # an unreadable report only loses the reason, never the model
        report = json.loads((folder / EXPORT_REPORT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return report if isinstance(report, dict) else {}


def load_bundle(folder: Path, precision: str = "auto", version: str | None = None,
                tags: dict[str, str] | None = None) -> ModelBundle:
    """`tags`: the registry version's tags (None for a local folder)."""
    onnx_path = pick_onnx(folder, precision)
    manifest = verify_manifest(folder, (tags or {}).get(MANIFEST_TAG) if tags is not None else None)
    if manifest is not None:
        if onnx_path.name not in manifest:
            raise UserError(f"{onnx_path}: not listed in {folder / MANIFEST_FILE}; refusing to serve an unverified "
                            "file")
        digest = manifest[onnx_path.name]
    elif tags is not None:  # registered before manifests: the tag of the file actually served
        # onnx_sha256 hashes the file named by onnx_file (INT8 when exported), so fp32 needs its own tag
        tag = (FP32_SHA_TAG if onnx_path.name == FP32_FILE and tags.get(FP32_SHA_TAG)
               else SHA_TAG if tags.get("onnx_file", onnx_path.name) == onnx_path.name else None)
        if tag is None or not tags.get(tag):
            raise UserError(f"{onnx_path}: the registry version has no sha256 tag for this file; refusing to "
                            "serve an unverified model")
        digest = verify_sha256(onnx_path, tags[tag])
    else:
        log.warning("%s has no %s: serving unverified files (re-export with `saferlhf reward export-onnx`)",
                    folder, MANIFEST_FILE)
        digest = file_sha256(onnx_path)
    cfg_path = folder / REWARD_CONFIG_FILE
    try:
        rc = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    except json.JSONDecodeError as e:
        raise UserError(f"{cfg_path}: invalid JSON ({e.msg} at line {e.lineno})") from None
    signals = tuple(rc.get("signals", SIGNALS))
    if signals != SIGNALS:
        raise UserError(f"{cfg_path}: signals must be {list(SIGNALS)}, got {list(signals)}")
    return ModelBundle(folder=folder, onnx_path=onnx_path, tokenizer_path=folder / TOKENIZER_FILE,
                       max_length=int(rc.get("max_length", 512)), signals=signals,
                       weights=tuple(float(w) for w in rc.get("weights", DEFAULT_WEIGHTS)),
                       version=version or f"sha256:{digest[:12]}", sha256=digest,
                       precision="int8" if onnx_path.name == INT8_FILE else "fp32")


def resolve_model(source: str, precision: str = "auto", cache_dir: Path | None = None,
                  version: str | None = None) -> ModelBundle:
    """Local folder, or MLflow `models:/` URI (downloaded once into cache_dir and sha256-verified)."""
    if source.startswith("models:/"):
        return _from_mlflow(source, precision, cache_dir or Path("outputs/serve_cache"), version)
    path = Path(source)
    if not path.exists():
        raise UserError(f"model not found: {source} (a folder from `saferlhf reward export-onnx` or models:/NAME@ALIAS)")
    return load_bundle(find_bundle_dir(path), precision, version)


def _from_mlflow(uri: str, precision: str, cache_dir: Path, version: str | None) -> ModelBundle:
    m = _MODELS_URI.match(uri)
    if not m:
        raise UserError(f"unsupported model URI {uri!r}: use models:/NAME@ALIAS or models:/NAME/VERSION")
    import mlflow  # heavy: imported only for registry URIs
    from mlflow.exceptions import MlflowException

    name = m["name"]
    client = mlflow.MlflowClient()
    try:
        mv = (client.get_model_version_by_alias(name, m["alias"]) if m["alias"]
              else client.get_model_version(name, m["version"]))
    except MlflowException as e:
        raise UserError(f"{uri}: {str(e).splitlines()[0]}") from None
    tags = dict(mv.tags or {})
    if not tags.get(MANIFEST_TAG) and not tags.get(SHA_TAG):
        raise UserError(f"{uri}: registry version {mv.version} has no {MANIFEST_TAG} or {SHA_TAG} tag; refusing to "
                        "serve an unverified model")
    dst = cache_dir / f"{name}-v{mv.version}"
    if not dst.exists():  # download once; pinned to the resolved version so a moving alias cannot race us
        log.info("downloading %s (version %s) to %s", uri, mv.version, dst)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=_mkdir(cache_dir)))
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(tmp))
            os.replace(tmp, dst)  # a half-finished download never looks like a cached one
        except MlflowException as e:
            raise UserError(f"{uri}: download failed: {str(e).splitlines()[0]}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_bundle(find_bundle_dir(dst), precision, version or f"{name}/{mv.version}", tags)


def _mkdir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d
