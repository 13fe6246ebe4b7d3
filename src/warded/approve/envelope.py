"""Agent-to-agent messages in signed envelopes that carry their provenance labels.

Each agent identity has an Ed25519 key. A sender seals its text with the labels it carries; the receiver opens
it with the public keys of the agents it knows.

Label rules (taint survives a hand-off):

* **Received labels are a lower bound.** Whatever an agent derives from a message it received carries at least
  that message's labels: :func:`seal` takes ``derived_from=`` and unions their labels in, so a sender's code
  cannot drop taint it was handed. :func:`open_envelope` never removes a declared label.
* **The receiver adds ``agent:<sender>``** to every authenticated message, so the text is known to have passed
  through that agent (trust for ``agent:*`` labels is the flow policy's decision, untrusted by default).
* **An unauthenticated envelope is untrusted, whatever it claims.** Unknown sender, wrong key id, bad signature
  or a malformed envelope give ``trusted=False`` and the labels ``{"untrusted"}`` only: the labels it declares
  are unauthenticated claims (one could claim ``user``), so they are kept apart in ``claimed_labels`` for
  explanation and never used as provenance. Opening never raises for a bad envelope from the wire.

Envelope (a JSON object)::

    {"format": "warded-envelope/1", "sender": <agent id>, "key_id": <sender key id>, "labels": [<sorted, unique>],
     "payload": <text>, "signature": <hex Ed25519 over ENVELOPE_DOMAIN + canonical JSON of the other fields>}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.approve._encoding import HEX_SIGNATURE, ParseError, canonical_or_raise, strict_json_loads
from warded.audit.keys import Signer, key_id
from warded.errors import WardedError

__all__ = [
    "ENVELOPE_DOMAIN",
    "ENVELOPE_FORMAT",
    "UNTRUSTED",
    "EnvelopeError",
    "OpenedMessage",
    "open_envelope",
    "seal",
]

ENVELOPE_DOMAIN = b"warded-envelope-v1\n"
"""Prefix of every signed envelope, so an agent key signs nothing else by accident."""

ENVELOPE_FORMAT = "warded-envelope/1"
UNTRUSTED = "untrusted"
MAX_LABELS = 256
MAX_LABEL_CHARS = 256
MAX_PAYLOAD_CHARS = 4_000_000
_KEYS = frozenset({"format", "sender", "key_id", "labels", "payload", "signature"})


class EnvelopeError(WardedError):
    """A message could not be sealed (bad sender id, label or payload). Opening never raises this."""


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A received message. ``trusted`` means authenticated: signed by the known key of ``sender``.

    It does not mean the content is trustworthy: that is what ``labels`` are for. For an untrusted message,
    ``sender`` is the unverified claim (or ``""``), ``labels`` is ``{"untrusted"}`` and ``problem`` says why.
    """

    text: str
    sender: str
    labels: frozenset[str]
    trusted: bool
    claimed_labels: frozenset[str] = frozenset()
    problem: str = ""


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise ParseError(f"label {label!r:.60} is not a non-empty printable string of at most {MAX_LABEL_CHARS}")
    return label


def _body(sender: str, kid: str, labels: list[str], payload: str) -> bytes:
    return ENVELOPE_DOMAIN + canonical_or_raise(
        {"format": ENVELOPE_FORMAT, "sender": sender, "key_id": kid, "labels": labels, "payload": payload}
    )


def seal(
    signer: Signer,
    sender_agent_id: str,
    payload_text: str,
    labels: Sequence[str],
    *,
    derived_from: Iterable[OpenedMessage] = (),
) -> dict[str, Any]:
    """Sign ``payload_text`` as ``sender_agent_id`` with ``labels``, plus every label of ``derived_from``.

    Pass the received messages the text was derived from as ``derived_from``: their labels (taint) are carried
    over, never dropped. Raises :class:`EnvelopeError` for a bad sender id, label or payload.
    """
    if not isinstance(signer, Signer):
        raise EnvelopeError(f"expected a warded Signer, got {type(signer).__name__}")
    if not isinstance(sender_agent_id, str) or not sender_agent_id or not sender_agent_id.isprintable():
        raise EnvelopeError("sender_agent_id must be a non-empty printable string")
    if not isinstance(payload_text, str) or len(payload_text) > MAX_PAYLOAD_CHARS:
        raise EnvelopeError(f"payload must be a string of at most {MAX_PAYLOAD_CHARS} characters")
    if isinstance(labels, str):
        raise EnvelopeError("labels must be a sequence of strings, not one string")
    carried: set[str] = set()
    try:
        carried.update(_check_label(label) for label in labels)
        for message in derived_from:
            if not isinstance(message, OpenedMessage):
                raise EnvelopeError(f"derived_from must hold OpenedMessage values, got {type(message).__name__}")
            carried.update(_check_label(label) for label in message.labels)
        if len(carried) > MAX_LABELS:
            raise EnvelopeError(f"at most {MAX_LABELS} labels")
        ordered = sorted(carried)
        body = _body(sender_agent_id, signer.key_id, ordered, payload_text)
    except ParseError as exc:
        raise EnvelopeError(str(exc)) from None
    return {
        "format": ENVELOPE_FORMAT,
        "sender": sender_agent_id,
        "key_id": signer.key_id,
        "labels": ordered,
        "payload": payload_text,
        "signature": signer.sign(body).hex(),
    }


def _untrusted(data: object, problem: str) -> OpenedMessage:
    text, sender, claimed = "", "", frozenset[str]()
    if isinstance(data, Mapping):
        payload, claimed_sender, raw = data.get("payload"), data.get("sender"), data.get("labels")
        text = payload if isinstance(payload, str) else ""
        sender = claimed_sender if isinstance(claimed_sender, str) else ""
        if isinstance(raw, list):
            claimed = frozenset(label for label in raw[:MAX_LABELS] if isinstance(label, str))
    return OpenedMessage(
        text=text, sender=sender, labels=frozenset({UNTRUSTED}), trusted=False, claimed_labels=claimed, problem=problem
    )


def open_envelope(envelope: object, known_agents: Mapping[str, Ed25519PublicKey]) -> OpenedMessage:
    """Open a received envelope (a mapping, or its JSON text/bytes). Never raises for a bad envelope.

    ``known_agents`` maps agent ids to their public keys. See the module docstring for the label rules.
    """
    try:
        return _open(envelope, known_agents)
    except Exception as exc:  # never raise for input from the wire: whatever went wrong, it is untrusted
        return _untrusted(None, f"cannot open envelope ({type(exc).__name__})")


def _open(envelope: object, known_agents: Mapping[str, Ed25519PublicKey]) -> OpenedMessage:
    data: object = envelope
    if isinstance(envelope, str | bytes):
        try:
            data = strict_json_loads(envelope)
        except ParseError as exc:
            return _untrusted(None, f"not JSON: {exc}")
    if not isinstance(data, Mapping):
        return _untrusted(None, f"envelope is a {type(data).__name__}, not an object")
    if set(data) != _KEYS or data.get("format") != ENVELOPE_FORMAT:
        return _untrusted(data, f"not a {ENVELOPE_FORMAT} envelope")
    sender, kid, labels, payload, signature = (
        data["sender"],
        data["key_id"],
        data["labels"],
        data["payload"],
        data["signature"],
    )
    if not isinstance(sender, str) or not sender or not isinstance(kid, str) or not isinstance(payload, str):
        return _untrusted(data, "sender, key_id and payload must be strings")
    if not isinstance(signature, str) or HEX_SIGNATURE.fullmatch(signature) is None:
        return _untrusted(data, "signature is not 128 lowercase hex digits")
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        return _untrusted(data, "labels must be a list")
    try:
        checked = [_check_label(label) for label in labels]
    except ParseError as exc:
        return _untrusted(data, str(exc))
    if checked != sorted(set(checked)):
        return _untrusted(data, "labels must be sorted and unique")
    public_key = known_agents.get(sender)
    if not isinstance(public_key, Ed25519PublicKey):
        return _untrusted(data, f"unknown sender {sender!r:.80}")
    if key_id(public_key) != kid:
        return _untrusted(data, f"key {kid!r:.20} is not the known key of {sender!r:.80}")
    try:
        public_key.verify(bytes.fromhex(signature), _body(sender, kid, checked, payload))
    except (InvalidSignature, ParseError):
        return _untrusted(data, "signature does not verify")
    return OpenedMessage(
        text=payload,
        sender=sender,
        labels=frozenset(checked) | {f"agent:{sender}"},
        trusted=True,
        claimed_labels=frozenset(checked),
    )
