"""Limits checked on a JSON body while its bytes arrive, before anything parses it: elements and nesting depth.

Why before parsing: a body under the byte cap can still hold ~440,000 empty items (12.3 MB of
`{"prompt":"","response":""},`); `json.loads` builds every one of them (+330 MB, 2.3 s) before pydantic counts
them, and 600-deep nesting overflows the recursion of anything that walks it. `StructureCounter` is fed each
chunk as it arrives; per chunk it runs C-speed passes (one regex match per string, bytes.count / find) and a
Python step per string or bracket, and it stops at the first limit, so its work is bounded by the limits, not
by the body."""

from __future__ import annotations

import re

from saferlhf.serve.v2 import RequestError

# the rest of a JSON string literal up to its closing quote (unrolled loop: linear time, no backtracking)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")
MAX_DEPTH = 32
"""A valid request nests at most 5 deep (V2 [N, 1] rows in data in a tensor in inputs); 32 leaves room for
`parameters` without letting anything recurse far."""


def max_elements(max_items: int) -> int:
    """Element budget of one request: an item costs at most 6 elements in either API (a V1 item object and its
    two members; two V2 data strings, or two [s] rows for shape [N, 1]), plus room for ids and parameters."""
    return 256 + 8 * max_items


class StructureCounter:
    """Feed the body chunk by chunk; `feed` raises RequestError 413 when the body holds more JSON elements
    (array elements + object members + containers, counted as `,` `[` `{` outside strings) than `max_items`
    items can need, 400 when it nests deeper than `max_depth`. Malformed JSON may pass; the parser rejects it."""

    def __init__(self, max_items: int, max_depth: int = MAX_DEPTH):
        self.max_items = max_items
        self.limit = max_elements(max_items)
        self.max_depth = max_depth
        self.elements, self.depth = 1, 0
        self._in_string = self._escaped = False  # state carried across chunk boundaries

    def feed(self, chunk: bytes) -> None:
        pos, n = 0, len(chunk)
        while pos < n:
            if self._in_string:
                if self._escaped:  # the previous chunk ended in a backslash: skip the escaped byte
                    pos, self._escaped = pos + 1, False
                    continue
                pos = _STRING_REST.match(chunk, pos).end()
                if pos < n:  # stopped at the closing quote, or at a backslash that ends the chunk
                    if chunk[pos] == 0x22:  # '"'
                        self._in_string = False
                    else:  # the chunk's last byte is a backslash
                        self._escaped = True
                    pos += 1
            else:
                quote = chunk.find(b'"', pos)
                end = n if quote < 0 else quote
                self._structure(chunk, pos, end)
                if quote < 0:
                    break
                self._in_string, pos = True, quote + 1

    def _structure(self, chunk: bytes, start: int, end: int) -> None:
        opens = chunk.count(b"[", start, end) + chunk.count(b"{", start, end)
        self.elements += chunk.count(b",", start, end) + opens
        if self.elements > self.limit:
            raise RequestError(f"body: more than {self.limit} JSON elements, more than {self.max_items} items can "
                               f"need; the limit is {self.max_items} items per request", 413)
        closes = chunk.count(b"]", start, end) + chunk.count(b"}", start, end)
        if not opens and not closes:
            return
        if closes > self.depth + opens:
            raise RequestError("malformed JSON body: a closing bracket without an opening one")
        # bounded walk: opens <= elements <= limit, closes <= depth + opens
        for b in chunk[start:end].translate(None, _NOT_BRACKETS):
            self.depth += 1 if b in _OPEN else -1
            if self.depth > self.max_depth:
                raise RequestError(f"body: JSON nested more than {self.max_depth} levels deep, the limit is "
                                   f"{self.max_depth}")
