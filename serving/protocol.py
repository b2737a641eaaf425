"""uvicorn's httptools protocol with the two connection limits uvicorn lacks (measured: a 20 MB header was
accepted; 300 connections with unfinished headers or a stalled body were all still open after 60 s):

- header bytes: a request whose headers pass `max_header_bytes` is answered 431 and the connection closed (the
  parser buffers a header until it ends, so without this a client chooses how much memory a connection holds);
- read deadline: a request must arrive whole (headers and body) within `read_timeout_s` of the connection
  opening or of the first byte of a keep-alive request, else the connection is closed (408 when nothing was
  answered yet). Idle keep-alive connections are closed by uvicorn's own `timeout_keep_alive`;
- lingering close: a connection closed while the client is still uploading (a 401/413 before the body was read)
  is half-closed after the answer and the rest of the upload discarded for up to `linger_s`, then closed. A plain
  close would leave unread bytes in the socket, the kernel answers them with a reset, and a reset makes the
  client's kernel drop the answer it had not read yet (seen in CI: the chunked upload's 401 never arrived).
  nginx does the same (`lingering_close`).

Passed to uvicorn as `http=functools.partial(GuardedHttpToolsProtocol, limits=ConnectionLimits(...))`; both are
module-level, so the partial pickles into spawned workers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("saferlhf.serving")


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 65536
    read_timeout_s: float = 20.0
    linger_s: float = 2.0


class _LingeringTransport:
    """The real transport, except that `close()` lingers (uvicorn closes through the transport it was given)."""

    def __init__(self, transport, protocol: GuardedHttpToolsProtocol):
        self._transport, self._protocol = transport, protocol

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol._linger()

    def is_closing(self) -> bool:
        return self._protocol._lingering or self._transport.is_closing()


def _plain(status: bytes, msg: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: " + str(len(msg)).encode() + b"\r\n\r\n" + msg)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, limits: ConnectionLimits = ConnectionLimits(), **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True  # until the current request's headers are complete
        self._raw = None  # the real transport
        self._lingering = False
        self._linger_end: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._raw = transport
        super().connection_made(_LingeringTransport(transport, self))
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._lingering = True  # nothing lingers on a lost connection
        if self._linger_end is not None:
            self._linger_end.cancel()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        if self._lingering:  # the client finished or gave up: close now
            self._raw.close()
        return None  # the transport closes itself

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a refused upload: discarded unparsed
        if self._in_headers:
            self._header_bytes += len(data)
            if self._deadline is None:  # first bytes of a keep-alive request
                self._arm()
        super().data_received(data)
        # checked after parsing: a chunk that completes the headers may carry body bytes too
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            log.warning("closing a connection: request headers over %d bytes", self.limits.max_header_bytes)
            self.transport.write(_plain(b"431 Request Header Fields Too Large", b"request headers are too large"))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the request is in; the app's own request timeout bounds the rest
        self._in_headers, self._header_bytes = True, 0

    def _linger(self) -> None:
        """Answer already written: send FIN after it, discard what still comes, close after `linger_s`."""
        if self._lingering:
            return
        self._lingering = True
        self._disarm()
        raw = self._raw
        if raw.is_closing():
            return
        if not raw.can_write_eof():
            raw.close()
            return
        try:
            raw.write_eof()  # after the buffered answer is flushed
            raw.resume_reading()  # uvicorn may have paused reads on a full body buffer
        except (OSError, RuntimeError):
            raw.close()
            return
        self._linger_end = self.loop.call_later(self.limits.linger_s, raw.close)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.read_timeout_s, self._read_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _read_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_plain(b"408 Request Timeout", b"request not received in time"))
        self.transport.close()
