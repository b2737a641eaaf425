"""FastAPI app of the scoring service: KServe V2 (Open Inference Protocol) + a simple JSON API.

Thin adapter: the lifespan builds a `saferlhf.serve.service.ScoringService` (ONNX Runtime session, micro-batcher,
prediction log) and keeps it on `app.state`; routes only translate HTTP <-> `service.score()`. Every bad input
is answered `{"error": "..."}` with a 4xx status. No torch is imported unless backend=torch (benchmark baseline)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

import saferlhf
from saferlhf.serve import binary, v2
from saferlhf.serve.service import ScoringService
from saferlhf.signals import SIGNALS
from serving.guard import RequestGuard, max_body_bytes
from serving.metrics import MetricsMiddleware, ServiceMetrics
from serving.schemas import (ErrorResponse, InferRequest, InferResponse, ItemScores, ModelMetadata, ScoreRequest,
                             ScoreResponse, ServerMetadata)
from serving.settings import ServeSettings

log = logging.getLogger("saferlhf.serving")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422)}


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """App factory (`uvicorn --factory serving.app:create_app`); settings default to the environment."""
    settings = settings or ServeSettings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = await run_in_threadpool(ScoringService.build, settings.service_config(), settings.output_root,
                                          on_batch=metrics.observe_batch, on_scores=metrics.observe_scores,
                                          on_log_error=metrics.log_dropped.inc)
        await service.start()
        app.state.service = service
        grpc = None
        if settings.grpc_port is not None:  # same loop and service: one model, one batcher queue, one log
            from serving import grpc_server

            grpc = await grpc_server.start(service, settings, metrics, app.state.max_body_bytes)
        try:
            yield
        finally:
            if grpc is not None:
                await grpc.stop(grace=10)  # finish in-flight RPCs before the batcher drains
            await service.stop()  # score what is queued, flush the prediction log

    app = FastAPI(title="SafeRLHF reward scorer", version=saferlhf.__version__, lifespan=lifespan)
    app.state.settings = settings
    name = settings.model_name
    endpoints = {"/v2", "/v2/health/live", "/v2/health/ready", f"/v2/models/{name}", f"/v2/models/{name}/ready",
                 f"/v2/models/{name}/infer", "/v1/score", "/metrics"}
    app.state.max_body_bytes = max_body_bytes(settings.max_items, settings.max_chars)  # REST and gRPC
    app.add_middleware(RequestGuard, max_items=settings.max_items, max_chars=settings.max_chars,
                       token=settings.token)
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=endpoints)
    _add_error_handlers(app)
    _add_routes(app, settings, metrics)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(v2.RequestError)
    async def _request_error(request: Request, exc: v2.RequestError):
        retry = getattr(exc, "retry_after", None)  # batcher.Overloaded: 503 the client may retry
        return JSONResponse({"error": str(exc)}, status_code=exc.status,
                            headers={"Retry-After": str(retry)} if retry is not None else None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        ctype = request.headers.get("content-type", "application/json")
        binary_ext = "inference-header-content-length" in request.headers  # its octet-stream type was accepted
        if request.method == "POST" and "json" not in ctype.lower() and not binary_ext:
            return JSONResponse({"error": f"Content-Type must be application/json, got {ctype!r}"}, 415)
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            ctx = errs[0].get("ctx") or {}
            return JSONResponse({"error": f"malformed JSON body: {ctx.get('error', 'cannot parse')}"}, 400)
        parts = []
        for e in errs[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        # a field name may hold a lone surrogate: escape it, or encoding the answer would fail (a 500)
        return JSONResponse({"error": "; ".join(parts).encode("utf-8", "backslashreplace").decode()}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in detail:  # FastAPI's message for undecodable bytes
            detail = "request body is not valid UTF-8 JSON (or holds a number of more than 4300 digits)"
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)


def _service(request: Request) -> ScoringService:
    return request.app.state.service


async def _check_model(request: Request, model_name: str) -> None:
    """Dependency: 404 for another model name (checked before the body is validated). `async` like the other
    dependencies: FastAPI runs a plain `def` dependency on its thread pool, a thread hand-off per request."""
    served = request.app.state.settings.model_name
    if model_name != served:
        raise v2.RequestError(f"model {model_name!r} not found; this server serves {served!r}", 404)


_INFER_DOC = {"requestBody": {"required": True, "description": (
    "InferRequest as JSON (Content-Type application/json or none), or with the binary tensor data extension: "
    "the JSON header's length in Inference-Header-Content-Length, then the raw tensor bytes "
    "(docs/inference-protocol.md)."), "content": {"application/json": {}, "application/octet-stream": {}}}}


async def _read_infer(request: Request) -> tuple[InferRequest, bytes]:
    """The typed V2 request and the binary tail after its JSON header. A body without Content-Type is JSON (stock
    clients send none); application/octet-stream is accepted with the binary extension's header."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    header_length = request.headers.get("inference-header-content-length")
    if ctype and "json" not in ctype and not (ctype == "application/octet-stream" and header_length is not None):
        raise v2.RequestError(f"Content-Type must be application/json (or application/octet-stream with "
                              f"Inference-Header-Content-Length), got {ctype!r}", 415)
    raw = binary.decode_content(await request.body(), request.headers.get("content-encoding"),
                                request.app.state.max_body_bytes)
    head, tail = binary.split_body(raw, header_length)
    try:
        return InferRequest.model_validate_json(head), tail
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False)) from None


def _add_routes(app: FastAPI, settings: ServeSettings, metrics: ServiceMetrics) -> None:
    @app.get("/v2/health/live", responses={503: {"model": ErrorResponse}})
    async def live(request: Request):
        service = getattr(request.app.state, "service", None)
        if service is not None and not service.live:
            return JSONResponse({"error": service.not_ready_reason(), "live": False}, status_code=503)
        return {"live": True}

    @app.get("/v2/health/ready", responses={503: {"model": ErrorResponse}})
    async def ready(request: Request):
        service = getattr(request.app.state, "service", None)
        why = "model not loaded yet" if service is None else service.not_ready_reason()
        if why is not None:
            return JSONResponse({"error": why, "ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/v2", response_model=ServerMetadata)
    async def server_metadata() -> ServerMetadata:
        return ServerMetadata(name="saferlhf-scorer", version=saferlhf.__version__, extensions=[])

    model_dep = [Depends(_check_model)]

    @app.get("/v2/models/{model_name}", response_model=ModelMetadata, responses=ERRORS, dependencies=model_dep)
    async def model_metadata(model_name: str, request: Request) -> ModelMetadata:
        inputs, outputs = v2.tensor_metadata()
        return ModelMetadata(name=model_name, versions=[_service(request).version], platform="onnxruntime_onnx",
                             inputs=inputs, outputs=outputs)

    @app.get("/v2/models/{model_name}/ready", responses=ERRORS, dependencies=model_dep)
    async def model_ready(model_name: str, request: Request):
        return {"name": model_name, "ready": _service(request).ready}

    @app.post("/v2/models/{model_name}/infer", response_model=InferResponse, responses=ERRORS,
              dependencies=model_dep, openapi_extra=_INFER_DOC)  # the bearer token: RequestGuard, before the body
    async def infer(model_name: str, request: Request) -> Response:
        service = _service(request)
        body, tail = await _read_infer(request)
        v2.check_unicode(body.id, "id")  # echoed back: must encode
        plan = v2.requested_outputs([o.model_dump() for o in body.outputs or []], body.parameters)
        inputs = [t.model_dump() for t in body.inputs]
        binary.attach_binary_inputs(inputs, tail)
        prompts, responses = v2.parse_inputs(inputs)
        scores, rewards = await service.score(prompts, responses, where="inputs")
        tensors, blobs = v2.encode_outputs(scores, rewards, plan)
        header = InferResponse(model_name=model_name, model_version=service.version, id=body.id, outputs=tensors)
        content, header_length = binary.response_body(header.model_dump(exclude_none=True), blobs)
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(header_length)})

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERRORS)
    async def score(body: ScoreRequest, request: Request) -> ScoreResponse:
        service = _service(request)
        scores, rewards = await service.score([i.prompt for i in body.items], [i.response for i in body.items])
        results = [ItemScores(**dict(zip(SIGNALS, s)), reward=r) for s, r in zip(scores.tolist(), rewards.tolist())]
        return ScoreResponse(model_name=settings.model_name, model_version=service.version, results=results)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
