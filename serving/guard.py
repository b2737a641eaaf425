"""ASGI layer in front of the app: auth before the body is read, then body bytes and JSON structure counted as
they arrive, chunked or not. Nothing past a limit is buffered or parsed.

Order per HTTP request:
1. a bearer token (when one is configured) on every path but the health probes: 401 from the headers alone;
2. a declared Content-Length over the cap: 413 before reading; otherwise each chunk is counted as it arrives and
   the request is answered 413 the moment the count passes the cap (`Transfer-Encoding: chunked` has no length);
3. each chunk fed to `saferlhf.serve.limits.StructureCounter`: too many JSON elements for max_items (413) or too
   deep (400), before any parser sees the body;
then the app receives the whole body in one message. A refused request is answered with `Connection: close`, so
the server drops the rest of an upload instead of reading it."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse

from saferlhf.serve.limits import StructureCounter
from saferlhf.serve.v2 import RequestError

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # kubelet probes carry no token


def max_body_bytes(max_items: int, max_chars: int) -> int:
    """Largest valid body: every character escaped as \\uXXXX\\uXXXX (12 bytes), plus names and framing."""
    return 65536 + max_items * 2 * (12 * max_chars + 256)


class RequestGuard:
    def __init__(self, app, max_items: int, max_chars: int, token: str | None):
        self.app = app
        self.max_items = max_items
        self.max_bytes = max_body_bytes(max_items, max_chars)
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in OPEN_PATHS and not self._authorized(headers):
            return await _refuse(scope, receive, send, 401, "missing or wrong bearer token (Authorization: "
                                 "Bearer <token>)", {"WWW-Authenticate": "Bearer"})
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            status, msg = ((413, f"request body of {int(length)} bytes is over the limit of {self.max_bytes}")
                           if length.isdigit() else (400, "invalid Content-Length header"))
            return await _refuse(scope, receive, send, status, msg)
        try:
            body, disconnected = await self._read(receive, headers)
        except RequestError as e:
            return await _refuse(scope, receive, send, e.status, str(e))
        if disconnected:
            return None  # the client went away mid-upload: nobody to answer
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for http.disconnect as the app expects

        return await self.app(scope, replay, send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    async def _read(self, receive, headers: dict[bytes, bytes]) -> tuple[bytes, bool]:
        """The whole body, counted and structure-checked chunk by chunk; (body, client disconnected)."""
        chunks, size, counter = [], 0, StructureCounter(self.max_items)
        # V2 binary tensor extension: only the first Inference-Header-Content-Length bytes are JSON
        json_len = headers.get(b"inference-header-content-length", b"")
        json_left = int(json_len) if json_len.isdigit() else None
        # a compressed body (Content-Encoding: gzip/deflate, which V2 clients send) is no JSON until inflated:
        # only its size is capped here; the inflation is capped and the items counted after it (saferlhf.serve)
        if headers.get(b"content-encoding", b"identity").strip().lower() not in (b"", b"identity"):
            json_left = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise RequestError(f"request body is over the limit of {self.max_bytes} bytes", 413)
            if json_left is None:
                counter.feed(chunk)
            elif json_left > 0:
                counter.feed(chunk[:json_left])
                json_left -= len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


async def _refuse(scope, receive, send, status: int, message: str, headers: dict | None = None) -> None:
    resp = JSONResponse({"error": message}, status_code=status, headers={"Connection": "close", **(headers or {})})
    await resp(scope, receive, send)
