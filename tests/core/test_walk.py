"""The one bounded walker: every text (keys too) in document order, and every bound reported, never silent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warded.core.inputs import check_arguments
from warded.core.walk import Bound, Limits, map_texts, walk


def test_keys_and_values_come_out_in_document_order_with_paths() -> None:
    walked = walk({"to": ["a@b.c", 7, {"k": "v"}], "body": "hi"}, root="arguments")
    assert walked.complete
    assert [(t.path, t.text, t.key) for t in walked.texts] == [
        ("arguments{key 0}", "to", True),
        ("arguments.to[0]", "a@b.c", False),
        ("arguments.to[2]{key 0}", "k", True),
        ("arguments.to[2].k", "v", False),
        ("arguments{key 1}", "body", True),
        ("arguments.body", "hi", False),
    ]
    assert [t.index for t in walked.texts] == list(range(6))


@pytest.mark.parametrize(
    ("value", "path"),
    [
        pytest.param("x", "value", id="bare-string"),
        pytest.param({"a": "x"}, "a", id="top-level-key-no-root"),
        pytest.param([["x"]], "[0][0]", id="nested-list"),
        pytest.param(("x",), "[0]", id="tuple"),
    ],
)
def test_paths_without_a_root(value: object, path: str) -> None:
    assert walk(value).texts[-1].path == path


def test_a_key_path_never_holds_the_key_text() -> None:
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    (key,) = [t for t in walk({secret: 1}, root="result").texts if t.key]
    assert key.text == secret
    assert secret not in key.path


def test_long_keys_are_shortened_in_paths_but_read_whole() -> None:
    long_key = "k" * 10_000
    texts = walk({long_key: {"a": "v"}}).texts
    assert texts[0].text == long_key
    assert len(texts[-1].path) < 100


@pytest.mark.parametrize(
    ("value", "limits", "bound"),
    [
        pytest.param(list(range(10)), Limits(max_items=10), Bound.ITEMS, id="items-list"),
        pytest.param({str(i): i for i in range(5)}, Limits(max_items=10), Bound.ITEMS, id="items-keys-count"),
        pytest.param([[[["x"]]]], Limits(max_depth=4), Bound.DEPTH, id="depth"),
        pytest.param({"a": {"b": "x"}}, Limits(max_depth=2), Bound.DEPTH, id="depth-key-at-value-depth"),
        pytest.param(["abc", "def"], Limits(max_chars=5), Bound.CHARS, id="chars-values"),
        pytest.param({"abcdef": 1}, Limits(max_chars=5), Bound.CHARS, id="chars-keys"),
    ],
)
def test_every_bound_is_reported(value: object, limits: Limits, bound: Bound) -> None:
    walked = walk(value, limits)
    assert walked.overflow is not None
    assert walked.overflow.bound is bound
    assert "not read" in walked.overflow.message


@pytest.mark.parametrize(
    ("value", "limits"),
    [
        pytest.param(list(range(10)), Limits(max_items=11), id="items-exact"),
        pytest.param([[["x"]]], Limits(max_depth=4), id="depth-exact"),
        pytest.param(["abc", "de"], Limits(max_chars=5), id="chars-exact"),
    ],
)
def test_values_exactly_at_a_bound_are_read_whole(value: object, limits: Limits) -> None:
    assert walk(value, limits).complete


def test_a_huge_container_is_refused_without_stacking_it() -> None:
    walked = walk({"a": list(range(1_000_000))}, Limits(max_items=100))
    assert walked.overflow is not None and walked.overflow.bound is Bound.ITEMS
    assert walked.items < 100


def test_keep_texts_false_checks_bounds_only() -> None:
    walked = walk({"a": ["x", "y"]}, keep_texts=False)
    assert walked.complete and walked.texts == () and walked.chars == 3


def test_map_texts_rewrites_values_by_index_and_keeps_keys() -> None:
    value = {"a.b": "one", "a": {"b": "two"}, "t": ("three",)}
    walked = walk(value)
    target = next(t.index for t in walked.texts if t.text == "two")
    out = map_texts(value, lambda i, text: text.upper() if i == target else None)
    assert out == {"a.b": "one", "a": {"b": "TWO"}, "t": ("three",)}


def test_map_texts_refuses_what_is_deeper_than_its_limits() -> None:
    with pytest.raises(ValueError, match="deeper"):
        map_texts([[["x"]]], lambda i, t: None, Limits(max_depth=2))


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_map_texts_numbers_texts_exactly_as_walk_does(value: Any) -> None:
    texts = walk(value, Limits(max_depth=64)).texts
    seen: list[tuple[int, str]] = []
    map_texts(value, lambda i, text: seen.append((i, text)), Limits(max_depth=64))
    assert seen == [(t.index, t.text) for t in texts if not t.key]


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_whatever_the_input_check_accepts_is_walked_whole(arguments: dict[str, Any]) -> None:
    max_bytes, max_depth = 4096, 6
    if check_arguments(arguments, max_bytes, max_depth) is None:
        assert walk(arguments, Limits(max_depth, 10_000, max_bytes)).complete
