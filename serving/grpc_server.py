"""gRPC adapter: the Open Inference Protocol's `inference.GRPCInferenceService` (serving/proto/grpc_predict_v2.proto)
and gRPC's standard health service (serving/proto/health.proto).

Started from the REST app's lifespan on the same event loop, so both protocols share one ScoringService: one
model, one micro-batcher queue, one prediction log, one metrics registry. The tensor mapping is REST's
(saferlhf.serve.v2 + binary): a request becomes the same tensor dicts, scores come back as FP32
`raw_output_contents` (what tritonclient and kserve read). Errors are gRPC status codes, never INTERNAL for bad
input: RequestError's HTTP-style status maps through _CODES.

The handlers are registered from the generated file's service descriptor rather than a grpcio-tools
`*_pb2_grpc.py` stub: that stub pins the grpcio version that generated it, and no grpcio-tools release fits both
the grpcio the stock clients need (tritonclient 2.67: <1.68) and this venv's protobuf 6. Importing the generated
module puts `inference.*` into protobuf's default pool, so it must not share a process with tritonclient's own
copy of those messages (the server runs in its own process; tests and benchmarks only talk to it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from grpc import aio

import saferlhf
from saferlhf.errors import UserError
from saferlhf.serve import binary, v2
from saferlhf.serve.service import ScoringService
from serving.metrics import ServiceMetrics
from serving.proto import grpc_predict_v2_pb2 as pb
from serving.proto import health_pb2 as health_pb
from serving.settings import ServeSettings

log = logging.getLogger("saferlhf.serving.grpc")
SERVICE = "inference.GRPCInferenceService"
PLATFORM = "onnxruntime_onnx"
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
          404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
          415: grpc.StatusCode.INVALID_ARGUMENT, 503: grpc.StatusCode.UNAVAILABLE}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


class InferenceServicer:
    """The six RPCs over the REST app's ScoringService (its lifespan starts and stops both)."""

    def __init__(self, service: ScoringService, settings: ServeSettings):
        self.service = service
        self.settings = settings

    def _check_model(self, name: str) -> None:
        if name != self.settings.model_name:
            raise _Abort(grpc.StatusCode.NOT_FOUND,
                         f"model {name!r} not found; this server serves {self.settings.model_name!r}")

    async def ServerLive(self, request: pb.ServerLiveRequest, context) -> pb.ServerLiveResponse:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context) -> pb.ServerReadyResponse:  # noqa: N802
        return pb.ServerReadyResponse(ready=self.service.ready)

    async def ModelReady(self, request: pb.ModelReadyRequest, context) -> pb.ModelReadyResponse:  # noqa: N802
        self._check_model(request.name)
        return pb.ModelReadyResponse(ready=self.service.ready)

    async def ServerMetadata(self, request, context) -> pb.ServerMetadataResponse:  # noqa: N802
        return pb.ServerMetadataResponse(name="saferlhf-scorer", version=saferlhf.__version__, extensions=[])

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context) -> pb.ModelMetadataResponse:  # noqa: N802
        self._check_model(request.name)
        inputs, outputs = v2.tensor_metadata()
        tm = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(name=request.name, versions=[self.service.version], platform=PLATFORM,
                                        inputs=[tm(**t) for t in inputs], outputs=[tm(**t) for t in outputs])

    async def ModelInfer(self, request: pb.ModelInferRequest, context) -> pb.ModelInferResponse:  # noqa: N802
        metadata = dict(context.invocation_metadata() or ())
        if not self.settings.bearer_ok(metadata.get("authorization")):
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED,
                         "missing or wrong bearer token (metadata authorization: Bearer <token>)")
        self._check_model(request.model_name)
        if not self.service.ready:
            raise _Abort(grpc.StatusCode.UNAVAILABLE, "model not loaded yet")
        plan = v2.requested_outputs([{"name": o.name, "parameters": _params(o.parameters)} for o in request.outputs],
                                    _params(request.parameters))
        prompts, responses = v2.parse_inputs(_input_tensors(request))
        scores, rewards = await self.service.score(prompts, responses, where="inputs")
        arrays = v2.output_arrays(scores, rewards)
        resp = pb.ModelInferResponse(model_name=request.model_name, model_version=self.service.version,
                                     id=request.id)
        for name, _ in plan:  # binary_data is a REST notion: gRPC outputs are always raw bytes
            resp.outputs.add(name=name, datatype="FP32", shape=list(arrays[name].shape))
            resp.raw_output_contents.append(binary.fp32_bytes(arrays[name]))
        return resp


def _params(params) -> dict:
    """InferParameter map -> plain dict (bool / int / str values)."""
    return {k: getattr(p, p.WhichOneof("parameter_choice")) for k, p in params.items()
            if p.WhichOneof("parameter_choice")}


def _input_tensors(request: pb.ModelInferRequest) -> list[dict]:
    """Inputs as the tensor dicts v2.parse_inputs reads: text from raw_input_contents (block i = input i) or
    from contents.bytes_contents."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise v2.RequestError(f"raw_input_contents: {len(raw)} blocks for {len(request.inputs)} inputs")
    tensors = []
    for i, t in enumerate(request.inputs):
        d = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
        where = f"inputs.{t.name}"
        if raw:
            if t.HasField("contents"):
                raise v2.RequestError(f"{where}: contents given with raw_input_contents; use one")
            d["data"] = binary.raw_texts(d, raw[i], f"raw_input_contents[{i}] ({t.name})")
        else:
            d["data"] = binary.utf8_texts(list(t.contents.bytes_contents), f"{where}.contents.bytes_contents")
        tensors.append(d)
    return tensors


def _wrap(name: str, fn: Callable, metrics: ServiceMetrics) -> Callable[..., Awaitable]:
    """Count and time the RPC; bad input -> its status code and one-line message; anything else -> INTERNAL."""
    endpoint = f"grpc:{name}"

    async def handler(request, context):
        t0 = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await fn(request, context)
        except _Abort as e:
            code, msg = e.code, str(e)
        except v2.RequestError as e:
            code, msg = _CODES.get(e.status, grpc.StatusCode.INVALID_ARGUMENT), str(e)
        except Exception:  # noqa: BLE001 - logged; the client gets a status, not a stack
            log.exception("unhandled error in %s", name)
            code, msg = grpc.StatusCode.INTERNAL, "internal error"
        finally:
            metrics.requests.labels(endpoint, code.name).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
        await context.abort(code, msg)

    return handler


class HealthServicer:
    """grpc.health.v1.Health/Check (Kubernetes `grpc:` probes, Envoy, cloud load balancers): SERVING once the model
    is loaded, for the server ("") and for the inference service by name."""

    def __init__(self, service: ScoringService):
        self.service = service

    async def Check(self, request, context) -> health_pb.HealthCheckResponse:  # noqa: N802
        if request.service not in ("", SERVICE):
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}; ask for '' or {SERVICE!r}")
        r = health_pb.HealthCheckResponse
        return r(status=r.SERVING if self.service.ready else r.NOT_SERVING)


def _handlers(module, servicer, metrics: ServiceMetrics) -> grpc.GenericRpcHandler:
    """One unary handler per RPC of the generated module's (only) service, (de)serialised with its message classes."""
    (svc,) = module.DESCRIPTOR.services_by_name.values()
    methods = {}
    for m in svc.methods:
        req, resp = getattr(module, m.input_type.name), getattr(module, m.output_type.name)
        methods[m.name] = grpc.unary_unary_rpc_method_handler(
            _wrap(m.name, getattr(servicer, m.name), metrics), request_deserializer=req.FromString,
            response_serializer=resp.SerializeToString)
    return grpc.method_handlers_generic_handler(svc.full_name, methods)


async def start(service: ScoringService, settings: ServeSettings, metrics: ServiceMetrics,
                max_message_bytes: int) -> aio.Server:
    """Bind settings.host:settings.grpc_port and serve; a message over `max_message_bytes` is refused by gRPC
    itself (RESOURCE_EXHAUSTED) before it is parsed. Several uvicorn workers share the port (SO_REUSEPORT)."""
    server = aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                 ("grpc.so_reuseport", 1)])
    server.add_generic_rpc_handlers((_handlers(pb, InferenceServicer(service, settings), metrics),
                                     _handlers(health_pb, HealthServicer(service), metrics)))
    address = f"{settings.host}:{settings.grpc_port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise UserError(f"grpc_port: cannot bind {address} ({e})") from None
    if not bound:
        raise UserError(f"grpc_port: cannot bind {address} (in use?)")
    await server.start()
    log.info("gRPC inference service on %s", address)
    return server
