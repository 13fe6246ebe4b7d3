"""Properties: any single-byte change to a signed approval, a token or an envelope is refused."""

from __future__ import annotations

import json
from typing import Any

from approve_helpers import ALICE, APPROVERS, ARGS, BOB, DECIDED, EXPIRES, NOW, new_request
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from warded.approve.approvals import ApprovalRejected, sign_approval, verify_approval
from warded.approve.capability import CapabilityRejected, TokenVerifier, issue_token
from warded.approve.digest import action_digest
from warded.approve.envelope import UNTRUSTED, open_envelope, seal
from warded.approve.files import decode_approval, encode_approval

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REQUEST = new_request()
APPROVAL_BYTES = encode_approval(sign_approval(REQUEST, ALICE, "alice", DECIDED))
DIGEST = action_digest("mail-assistant", "s1", "send_payment", ARGS, EXPIRES, REQUEST.nonce)

TOKEN_EXP = NOW + 60.0
TOKEN_DIGEST = action_digest("mail-assistant", "s1", "send_payment", ARGS, TOKEN_EXP, "tok_nonce_0123456789")
TOKEN = issue_token(ALICE, TOKEN_DIGEST, TOKEN_EXP, "tok_nonce_0123456789")

AGENTS = {"reader": ALICE.public_key, "writer": BOB.public_key}
ENVELOPE = seal(ALICE, "reader", "pay 10 EUR to DE00 1234", ["tool:read_file", "untrusted"])
ENVELOPE_BYTES = json.dumps(ENVELOPE).encode()


def mutate(data: bytes, index: int, value: int) -> bytes:
    index %= len(data)
    assume(data[index] != value)
    return data[:index] + bytes([value]) + data[index + 1 :]


def test_the_originals_are_accepted() -> None:
    verify_approval(REQUEST, decode_approval(APPROVAL_BYTES), APPROVERS, NOW, (), action_digest=DIGEST)
    TokenVerifier({ALICE.key_id: ALICE.public_key}, lambda: NOW).verify(TOKEN, TOKEN_DIGEST)
    assert open_envelope(ENVELOPE_BYTES, AGENTS).trusted


@SETTINGS
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_to_an_approval_is_refused(index: int, value: int) -> None:
    changed = mutate(APPROVAL_BYTES, index, value)
    try:
        approval = decode_approval(changed)
        verify_approval(REQUEST, approval, APPROVERS, NOW, (), action_digest=DIGEST)
    except ApprovalRejected:
        return
    raise AssertionError(f"accepted a changed approval: {changed!r}")


@SETTINGS
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_to_a_token_is_refused(index: int, value: int) -> None:
    changed = mutate(TOKEN.encode("latin-1"), index, value).decode("latin-1")
    verifier = TokenVerifier({ALICE.key_id: ALICE.public_key}, lambda: NOW)
    try:
        verifier.verify(changed, TOKEN_DIGEST)
    except CapabilityRejected:
        return
    raise AssertionError(f"accepted a changed token: {changed!r}")


@SETTINGS
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_a_changed_envelope_is_untrusted_or_says_exactly_the_same(index: int, value: int) -> None:
    # JSON on the wire may be re-spaced harmlessly; what is signed (sender, labels, text) cannot change.
    opened = open_envelope(mutate(ENVELOPE_BYTES, index, value), AGENTS)
    if opened.trusted:
        assert (opened.sender, opened.text) == ("reader", ENVELOPE["payload"])
        assert opened.labels == {"tool:read_file", "untrusted", "agent:reader"}
    else:
        assert opened.labels == {UNTRUSTED}


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), _json, max_size=4), st.text(min_size=1, max_size=6), _json)
def test_changing_or_adding_one_argument_changes_the_digest(args: dict[str, Any], key: str, value: Any) -> None:
    changed = args | {key: value}
    assume(json.dumps(changed, sort_keys=True) != json.dumps(args, sort_keys=True))
    assume(not (key in args and type(args[key]) is type(value) and args[key] == value))
    before = action_digest("a", "s", "t", args, 1.0, "nonce")
    after = action_digest("a", "s", "t", changed, 1.0, "nonce")
    assert before != after
