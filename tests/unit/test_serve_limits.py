"""The body structure counter: counts match the parsed JSON for any chunking; limits raise 413 / 400."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferlhf.serve.limits import MAX_DEPTH, StructureCounter, max_elements
from saferlhf.serve.v2 import RequestError

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('",[]{}\\'), max_size=12),
                    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=6), kids, max_size=5),
                    max_leaves=40)


def _elements(v) -> int:
    """Reference count from the parsed value: a container adds 1, plus one per separator between children."""
    if isinstance(v, list | dict):
        kids = list(v.values()) if isinstance(v, dict) else v
        return 1 + max(len(kids) - 1, 0) + sum(_elements(k) for k in kids)
    return 0


def _depth(v) -> int:
    kids = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else []
    return (1 + max((_depth(k) for k in kids), default=0)) if isinstance(v, list | dict) else 0


def _feed(body: bytes, cuts: list[int], max_items: int = 10_000) -> StructureCounter:
    c = StructureCounter(max_items)
    points = sorted({min(x, len(body)) for x in cuts})
    for a, b in zip([0, *points], [*points, len(body)]):
        c.feed(body[a:b])
    return c


@settings(max_examples=300, deadline=None)
@given(value=JSON, cuts=st.lists(st.integers(0, 400), max_size=8), ascii_=st.booleans())
def test_counts_match_the_parsed_json_for_any_chunking(value, cuts, ascii_):
    body = json.dumps(value, ensure_ascii=ascii_).encode("utf-8", "surrogatepass")
    c = _feed(body, cuts)
    assert c.elements == 1 + _elements(value)
    assert c.depth == 0 and not c._in_string  # balanced, and every string was closed


def test_too_many_items_is_413_early():
    item = b'{"prompt":"","response":""},'
    body = b'{"items": [' + item * 440_000 + b"{}]}"
    c = StructureCounter(64)
    with pytest.raises(RequestError) as e:
        for i in range(0, len(body), 65536):
            c.feed(body[i:i + 65536])
    assert e.value.status == 413 and "64 items" in str(e.value)
    assert i < 65536  # stopped in the first chunk, not after reading 12 MB
    assert c.elements <= max_elements(64) + 65536  # the count stopped near the budget


def test_a_valid_full_request_fits_the_budget():
    v1 = {"items": [{"prompt": "a, [b] {c}", "response": "d"}] * 64}
    v2 = {"id": "x", "parameters": {"a": 1}, "inputs": [
        {"name": n, "shape": [64, 1], "datatype": "BYTES", "data": [["s,"]] * 64} for n in ("prompt", "response")],
        "outputs": [{"name": "scores"}, {"name": "reward"}]}
    for body in (v1, v2):
        _feed(json.dumps(body).encode(), [], max_items=64)


@pytest.mark.parametrize("depth, cuts, status", [(MAX_DEPTH + 1, [], 400), (600, [7, 100], 400), (3000, [], 413)])
def test_deep_nesting_is_refused(depth, cuts, status):
    """Small chunks meet the depth limit first (400); one big chunk counts its 3,000 `[` first (413)."""
    with pytest.raises(RequestError) as e:
        _feed(b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}", cuts, max_items=64)
    assert e.value.status == status


def test_unbalanced_closers_are_400_without_walking_them():
    with pytest.raises(RequestError, match="closing bracket"):
        _feed(b"]" * 5_000_000, [], max_items=64)
