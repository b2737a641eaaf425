"""A FAKE of the Kubernetes API paths the TrainJob launcher calls (create/get/delete trainjobs, list pods by the
JobSet label, get pods/log), served on loopback for the contract tests: no Kubernetes API server, and no Kubeflow
Trainer, can run here. It answers as the API server does (201/200/404, a `Status` body with a message, 422 for a
body the CRD's openAPIV3Schema rejects) and records the (apiGroup, resource, verb) of every call, which the tests
compare with the Role in manifests/pipeline/trainjob-rbac.yaml.

A job finishes with `outcome` after `polls` GETs; or, given `node`, a callable run on the created body in a thread
(what Trainer's node 0 would do), with the job `Running` until it returns (ok, message, log)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

from saferlhf.trainjob_launch import KubeAPI

SCHEMA = json.loads((Path(__file__).resolve().parent / "schemas" / "trainer_trainjob_v1alpha1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
TOKEN = "t0ken"
JOBS = re.compile(r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/(?P<ns>[^/]+)/trainjobs(?:/(?P<name>[^/?]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")
Node = Callable[[dict], tuple[bool, str, str]]  # body -> (succeeded, message, node 0's log)


class FakeKube:
    """One namespace's TrainJobs."""

    def __init__(self, outcome: str = "Complete", polls: int = 1, node: Node | None = None):
        self.outcome, self.polls, self.node = outcome, polls, node
        self.jobs: dict[str, dict] = {}
        self.created: list[dict] = []  # every body accepted, as sent
        self.calls: list[tuple[str, str, str]] = []
        self.gets = 0
        self.runs: dict[str, threading.Thread] = {}
        self.results: dict[str, tuple[bool, str, str]] = {}

    def _status(self, name: str) -> dict | None:
        if self.node is not None:
            if name not in self.results:
                return None  # still running
            ok, message, _ = self.results[name]
        else:
            if self.gets <= self.polls:
                return None
            ok, message = self.outcome != "Failed", ("jobs completed" if self.outcome != "Failed"
                                                     else "node 0 exited with code 1")
        return {"conditions": [{"type": "Complete" if ok else "Failed", "status": "True",
                                "lastTransitionTime": "2026-12-01T00:00:00Z",
                                "reason": "JobsCompleted" if ok else "BackoffLimitExceeded", "message": message}]}

    def _run_node(self, name: str, body: dict) -> None:
        try:
            self.results[name] = self.node(body)
        except Exception as e:  # a crash of the fake node is a failed job, not a hung test
            self.results[name] = (False, f"fake node crashed: {e}", "")

    def handle(self, method: str, url: str, body: dict | None) -> tuple[int, object]:
        path, _, query = url.partition("?")
        if m := JOBS.match(path):
            if method == "POST" and not m["name"]:
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "create"))
                errors = sorted(VALIDATOR.iter_errors(body), key=str)
                if errors:  # what the API server's schema validation answers
                    return 422, {"kind": "Status", "reason": "Invalid", "code": 422, "message": (
                        f'TrainJob.trainer.kubeflow.org "{body.get("metadata", {}).get("name")}" is invalid: '
                        f'{errors[0].json_path}: {errors[0].message}')}
                name = body["metadata"]["name"]
                if name in self.jobs:
                    return 409, {"kind": "Status", "reason": "AlreadyExists",
                                 "message": f'trainjobs.trainer.kubeflow.org "{name}" already exists'}
                self.jobs[name] = body
                self.created.append(body)
                if self.node is not None:
                    self.runs[name] = threading.Thread(target=self._run_node, args=(name, body), daemon=True)
                    self.runs[name].start()
                return 201, body
            job = self.jobs.get(m["name"])
            if job is None:
                return 404, {"kind": "Status", "message": f'trainjobs "{m["name"]}" not found'}
            if method == "GET":
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "get"))
                self.gets += 1
                status = self._status(m["name"])
                return 200, {**job, "status": status} if status else job
            if method == "DELETE":
                self.calls.append(("trainer.kubeflow.org", "trainjobs", "delete"))
                del self.jobs[m["name"]]
                return 200, {"kind": "Status", "status": "Success"}
        if PODS.match(path) and method == "GET":
            self.calls.append(("", "pods", "list"))
            name = urllib.parse.parse_qs(query)["labelSelector"][0].split("=", 1)[1]
            return 200, {"items": [{"metadata": {"name": f"{name}-node-0-0-abc"}},
                                   {"metadata": {"name": f"{name}-node-1-0-def"}}]}
        if (m := LOG.match(path)) and method == "GET":
            self.calls.append(("", "pods/log", "get"))
            job = m["pod"].removesuffix("-node-0-0-abc")
            if job in self.results:
                return 200, self.results[job][2]
            return 200, f"log of {m['pod']}\nrl step 5 done\n"
        return 404, {"kind": "Status", "message": f"no route {method} {path}"}


@contextlib.contextmanager
def serve(fake: FakeKube) -> Iterator[KubeAPI]:
    """The fake on a loopback port; a KubeAPI client of it (bearer TOKEN, checked on every call)."""

    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                code, out = 401, {"kind": "Status", "message": "Unauthorized"}
            else:
                code, out = fake.handle(self.command, self.path, body)
            data = out.encode() if isinstance(out, str) else json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(out, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _do

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield KubeAPI(f"http://127.0.0.1:{server.server_address[1]}", token=TOKEN, timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def role_rules(repo: Path) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) the launcher's Role grants."""
    import yaml

    docs = list(yaml.safe_load_all((repo / "manifests" / "pipeline" / "trainjob-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}
