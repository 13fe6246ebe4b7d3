"""Approval files and the library side of ``warded approve`` / ``warded deny`` / ``warded approvals show``.

An approval file holds one signed verdict (:class:`~warded.approve.approvals.SignedApproval`) as canonical JSON
(keys sorted, no whitespace, times as JSON floats, hex in lowercase) followed by one ``\\n``, for example::

    {"approver":"alice","decided_at":1700000100.0,"digest":"<64 hex>","expires_at":1700000900.0,
     "format":"warded-approval/1","key_id":"<16 hex>","request_id":"r0123456789abcdef",
     "signature":"<128 hex>","verdict":"approve"}

Parsing is strict: the bytes must be exactly that canonical form, so a truncated file, an extra or missing key,
a wrong type, a duplicate key or any other spelling of the same values is refused as ``approval.malformed``.
The CLI is an edge: these functions take the time as a value (``now``) and do the file and database I/O.
"""

from __future__ import annotations

import os
from pathlib import Path

from warded.approve._encoding import ParseError, canonical_or_raise, strict_json_loads
from warded.approve.approvals import (
    ApprovalRejected,
    ApprovalVerdict,
    Approvers,
    RejectCode,
    SignedApproval,
    approval_from_json,
    render_request,
    sign_approval,
    verify_signature,
)
from warded.approve.store import ApprovalStore, RequestStatus, SQLiteApprovalStore
from warded.audit.keys import Signer
from warded.errors import StoreError

__all__ = [
    "MAX_APPROVAL_FILE_BYTES",
    "approve_request",
    "decide_in_store",
    "decode_approval",
    "deny_request",
    "encode_approval",
    "read_approval_file",
    "render_stored_request",
    "show_request",
    "submit_approval",
    "write_approval_file",
]

StrPath = str | os.PathLike[str]

MAX_APPROVAL_FILE_BYTES = 16 * 1024


def _malformed(detail: str) -> ApprovalRejected:
    return ApprovalRejected(RejectCode.MALFORMED, detail)


def encode_approval(approval: SignedApproval) -> bytes:
    """The approval-file bytes of ``approval``: canonical JSON and a newline."""
    if not isinstance(approval, SignedApproval):
        raise _malformed(f"expected a SignedApproval, got {type(approval).__name__}")
    try:
        return canonical_or_raise(approval_from_json(approval.to_json()).to_json()) + b"\n"
    except (ParseError, AttributeError) as exc:
        raise _malformed(f"cannot encode approval: {exc}") from None


def decode_approval(data: bytes) -> SignedApproval:
    """Parse approval-file bytes strictly; ``approval.malformed`` unless they are exactly the canonical form."""
    if not isinstance(data, bytes):
        raise _malformed(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_APPROVAL_FILE_BYTES:
        raise _malformed(f"approval file is larger than {MAX_APPROVAL_FILE_BYTES} bytes")
    if not data.endswith(b"\n"):
        raise _malformed("approval file is truncated (no final newline)")
    try:
        obj = strict_json_loads(data[:-1])
    except ParseError as exc:
        raise _malformed(f"approval file is not valid JSON: {exc}") from None
    approval = approval_from_json(obj)
    if encode_approval(approval) != data:
        raise _malformed("approval file is not in canonical form (it was edited or re-encoded)")
    return approval


def read_approval_file(path: StrPath) -> SignedApproval:
    """Read and strictly parse an approval file (:func:`decode_approval`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_APPROVAL_FILE_BYTES + 1)
    except OSError as exc:
        raise _malformed(f"cannot read approval file {os.fspath(path)}: {exc.strerror}") from exc
    return decode_approval(data)


def write_approval_file(path: StrPath, approval: SignedApproval) -> None:
    """Write ``approval`` to a new file at ``path`` (never overwrites). StoreError if it cannot be written."""
    data = encode_approval(approval)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError as exc:
        raise StoreError(f"refusing to overwrite existing file {os.fspath(path)}") from exc
    except OSError as exc:
        raise StoreError(f"cannot create approval file {os.fspath(path)}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        Path(path).unlink(missing_ok=True)
        raise StoreError(f"cannot write approval file {os.fspath(path)}: {exc.strerror}") from exc


def decide_in_store(
    store: ApprovalStore,
    request_id: str,
    key_path: StrPath,
    approver_name: str,
    now: float,
    *,
    verdict: ApprovalVerdict,
    out_path: StrPath | None = None,
    approvers: Approvers | None = None,
) -> SignedApproval:
    """Sign ``verdict`` on pending request ``request_id`` and record it in ``store`` (any approval store:
    the SQLite file or PostgreSQL). :func:`approve_request` / :func:`deny_request` describe the rest."""
    signer = Signer.from_file(key_path)
    request = store.load_request(request_id)
    if request is None:
        raise StoreError(f"no approval request {request_id!r}")
    status = store.status(request_id)
    if status != RequestStatus.PENDING:
        raise StoreError(f"approval request {request_id} is already {status}")
    approval = sign_approval(request, signer, approver_name, now, verdict=verdict)
    if approvers is not None:
        verify_signature(request, approval, approvers)  # refuse early if this key is not a configured approver
    if out_path is not None:
        write_approval_file(out_path, approval)
    store.record_verdict(approval)
    return approval


def _decide(
    *,
    db_path: StrPath,
    request_id: str,
    key_path: StrPath,
    approver_name: str,
    now: float,
    verdict: ApprovalVerdict,
    out_path: StrPath | None,
    approvers: Approvers | None,
) -> SignedApproval:
    Signer.from_file(key_path)  # a bad key file is refused before the database is opened, as before
    with SQLiteApprovalStore(os.fspath(db_path)) as store:
        return decide_in_store(
            store,
            request_id,
            key_path,
            approver_name,
            now,
            verdict=verdict,
            out_path=out_path,
            approvers=approvers,
        )


def approve_request(
    db_path: StrPath,
    request_id: str,
    key_path: StrPath,
    approver_name: str,
    now: float,
    *,
    out_path: StrPath | None = None,
    approvers: Approvers | None = None,
) -> SignedApproval:
    """Sign an approval of pending request ``request_id`` with the private key at ``key_path`` and record it.

    ``now`` is the approver's clock. With ``out_path`` the approval is also written there as an approval file;
    with ``approvers`` (the gateway's configured approvers) a key that the gateway would not accept is refused
    here (``approval.unknown_signer``) instead of at use. Raises StoreError (unknown or already decided
    request), KeyFileError (bad key file) or ApprovalRejected (``approval.expired``).
    """
    return _decide(
        db_path=db_path,
        request_id=request_id,
        key_path=key_path,
        approver_name=approver_name,
        now=now,
        verdict=ApprovalVerdict.APPROVE,
        out_path=out_path,
        approvers=approvers,
    )


def deny_request(
    db_path: StrPath,
    request_id: str,
    key_path: StrPath,
    approver_name: str,
    now: float,
    *,
    out_path: StrPath | None = None,
    approvers: Approvers | None = None,
) -> SignedApproval:
    """Sign and record a denial of pending request ``request_id`` (final: it can no longer be approved)."""
    return _decide(
        db_path=db_path,
        request_id=request_id,
        key_path=key_path,
        approver_name=approver_name,
        now=now,
        verdict=ApprovalVerdict.DENY,
        out_path=out_path,
        approvers=approvers,
    )


def submit_approval(db_path: StrPath, approval: SignedApproval, approvers: Approvers, now: float) -> None:
    """Record a verdict signed elsewhere (read with :func:`read_approval_file`) after checking its signature.

    Refuses (ApprovalRejected) an approval by a key not in ``approvers``, with a bad signature, for another
    digest, or arriving after the request expired; StoreError if the request is unknown or already decided.
    """
    with SQLiteApprovalStore(os.fspath(db_path)) as store:
        request = store.load_request(approval.request_id)
        if request is None:
            raise StoreError(f"no approval request {approval.request_id!r}")
        verify_signature(request, approval, approvers)
        if approval.verdict is ApprovalVerdict.APPROVE and now >= request.expires_at:
            raise ApprovalRejected(RejectCode.EXPIRED, f"request {request.id} has expired")
        store.record_verdict(approval)


def render_stored_request(store: ApprovalStore, request_id: str, *, now: float | None = None) -> str:
    """A human rendering of request ``request_id`` in ``store`` (tool, tier, arguments, reasons, taint, expiry,
    status, and the verdict once decided)."""
    request = store.load_request(request_id)
    if request is None:
        raise StoreError(f"no approval request {request_id!r}")
    status = store.status(request_id)
    verdict = store.load_verdict(request_id)
    text = render_request(request, now=now, status=status)
    if verdict is not None:
        text += f"\n  decided:   {verdict.verdict.value} by {verdict.approver} (key {verdict.key_id})"
    return text


def show_request(db_path: StrPath, request_id: str, *, now: float | None = None) -> str:
    """:func:`render_stored_request` on the SQLite file ``db_path``."""
    with SQLiteApprovalStore(os.fspath(db_path)) as store:
        return render_stored_request(store, request_id, now=now)
