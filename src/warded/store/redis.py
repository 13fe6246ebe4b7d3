"""Redis backends shared by every gateway replica: sliding windows, pauses, single-use nonces, and the
wake-up signal of ``wait_for_approval``.

The same interfaces as the SQLite stores (:class:`~warded.store.windows.SQLiteWindows`,
:class:`~warded.store.state.SQLiteStateStore`), so a policy switches with ``store: {redis: "redis://…"}``
and nothing above the store changes.

**Windows.** Each window key (a tuple of strings, spelt as canonical JSON by
:func:`~warded.store.windows.canonical_key`) becomes the Redis key ``{prefix}w:{sha256}``: a sorted set
whose members are events (``"{amount}|{token}"``, unique per event) scored by their time. A count is
``ZCOUNT (now - window, +inf]``; a total sums the amounts of those members. :meth:`RedisWindows.reserve`
checks every claim and records all of them, or none, inside **one Lua script**: Redis runs a script
alone, so no replica can add an event between another replica's check and its insert, and a limit,
budget or breaker shared by any number of replicas is exact. Amounts and caps travel as Python's
``repr`` of the float and totals come back as ``%.17g``, so no digit is lost on the way. Every key gets
a TTL of its window (plus a minute for clocks that disagree), only ever extended, so windows expire by
themselves; a reservation also drops its windows' expired events. Keys whose second part is a scope
(``(rule, ("agent", "s1"))``) are listed in ``{prefix}scope:{sha256}`` so :meth:`RedisWindows.reset_scope`
forgets them in one script.

**Failures.** Every Redis error or timeout raises :class:`~warded.errors.StoreError`, which the gateway
turns into a DENY (``store.unavailable``). A connection that breaks (Redis restarted, the connection
killed) is retried once on a fresh connection; the reservation script is idempotent (it carries its own
unique event ids and recognises them), so a retry never records twice. A timeout is not retried: the
call fails closed, and at worst a slot was taken by a call that was denied. Clients are created lazily
and reconnect by themselves, so a replica started while Redis is down serves (denying) until it is back.

One Redis (or a primary with replicas) is assumed: the scripts touch keys they do not declare (the
scope index), so Redis Cluster is not supported.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from warded.core.windows import Claim
from warded.errors import StoreError
from warded.store.state import ALL_SESSIONS, QUARANTINE, AgentFlag, Pause, strongest
from warded.store.windows import canonical_key

__all__ = ["ApprovalWaker", "RedisNonces", "RedisSessionWindows", "RedisStateStore", "RedisWindows", "pauses_key"]

T = TypeVar("T")

SKEW_S = 60.0
"""Kept beyond a window or an expiry, for replicas whose clocks disagree (longer only ever denies more)."""

MAX_PREFIX_CHARS = 200
MAX_REMEMBERED_KEYS = 50_000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StoreError(f"{what} must be a finite number, got {value!r:.40}")
    return float(value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"{what} must be a non-empty string")
    return value


def pauses_key(prefix: str) -> str:
    """The Redis hash of every pause under ``prefix``."""
    return f"{prefix}pauses"


def _ttl_ms(window: float) -> int:
    return math.ceil((window + SKEW_S) * 1000)


class _RedisClient:
    """One client (a thread-safe connection pool) per store; errors become ``StoreError``."""

    def __init__(self, url: str, *, prefix: str, timeout_s: float, what: str) -> None:
        if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX_CHARS:
            raise StoreError(f"a Redis key prefix must be a string of at most {MAX_PREFIX_CHARS} characters")
        timeout_s = _finite(timeout_s, "timeout_s")
        if timeout_s <= 0:
            raise StoreError("timeout_s must be positive")
        self.prefix = prefix
        self._what = what
        self._closed = False
        self._state_lock = threading.Lock()
        try:
            self._redis = redis.Redis.from_url(
                _text(url, "the Redis URL"),
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                decode_responses=True,
                # One retry on a fresh connection when the pooled one broke (Redis restarted, connection
                # killed); timeouts are not retried: the call fails closed at once.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
        except (RedisError, ValueError) as exc:
            raise StoreError(f"cannot open {what}: {exc}") from exc

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            raise StoreError(f"the {self._what} is closed")
        try:
            return fn(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(f"cannot {what}: {type(exc).__name__}: {exc}") from exc

    def ping(self) -> None:
        """Raise ``StoreError`` unless Redis answers."""
        self._call("reach Redis", self._redis.ping)

    def close(self) -> None:
        with self._state_lock:
            if not self._closed:
                self._closed = True
                self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# -- windows ----------------------------------------------------------------------------------------

_LUA_COMMON = """
local function window_sum(key, horizon)
  local members = redis.call('ZRANGEBYSCORE', key, '(' .. horizon, '+inf')
  local sum, c = 0.0, 0.0
  for _, m in ipairs(members) do
    local x = tonumber(string.match(m, '^[^|]+'))
    local t = sum + x
    if math.abs(sum) >= math.abs(x) then c = c + ((sum - t) + x) else c = c + ((x - t) + sum) end
    sum = t
  end
  return sum + c
end
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""

_TOTAL = (
    _LUA_COMMON
    + """
return string.format('%.17g', window_sum(KEYS[1], ARGV[1]))
"""
)

# KEYS: window key, scope key (per claim). ARGV: n, now, token, then per claim: horizon, counted, amount,
# cap, ttl_ms, has_scope. Returns -1 when all were recorded (or already were: a retried call), else the
# 0-based index of the first claim that does not fit.
_RESERVE = (
    _LUA_COMMON
    + """
local n = tonumber(ARGV[1])
local now, token = ARGV[2], ARGV[3]
local function member(i) return ARGV[4 + (i - 1) * 6 + 2] .. '|' .. token .. ':' .. i end
if redis.call('ZSCORE', KEYS[1], member(1)) then return -1 end
for i = 1, n do
  local key, base = KEYS[2 * i - 1], 4 + (i - 1) * 6
  local horizon = ARGV[base]
  local counted = ARGV[base + 1] == '1'
  local cap = tonumber(ARGV[base + 3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
  local current, add
  if counted then
    current, add = redis.call('ZCOUNT', key, '(' .. horizon, '+inf'), 1.0
  else
    current, add = window_sum(key, horizon), tonumber(ARGV[base + 2])
  end
  if not (current + add <= cap) then return i - 1 end
end
for i = 1, n do
  local key, scope, base = KEYS[2 * i - 1], KEYS[2 * i], 4 + (i - 1) * 6
  local ttl = tonumber(ARGV[base + 4])
  redis.call('ZADD', key, now, member(i))
  extend(key, ttl)
  if ARGV[base + 5] == '1' then
    redis.call('SADD', scope, key)
    extend(scope, ttl)
  end
end
return -1
"""
)

# KEYS: window key, scope key. ARGV: now, member, ttl_ms, has_scope.
_ADD = (
    _LUA_COMMON
    + """
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
extend(KEYS[1], ttl)
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[2], KEYS[1])
  extend(KEYS[2], ttl)
end
return 1
"""
)

_RESET = """
local keys = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(keys) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #keys
"""


class RedisWindows(_RedisClient):
    """Sliding-window counters in Redis, exact across any number of replicas. Thread-safe."""

    def __init__(
        self, url: str, *, prefix: str = "warded:", timeout_s: float = 2.0, default_ttl_s: float = 31 * 86400.0
    ) -> None:
        super().__init__(url, prefix=prefix, timeout_s=timeout_s, what="Redis window store")
        self._default_ttl_s = _finite(default_ttl_s, "default_ttl_s")
        self._windows: dict[str, float] = {}  # key text -> the window last used (the TTL of a bare add)
        self._lock = threading.Lock()
        self._total = self._redis.register_script(_TOTAL)
        self._reserve = self._redis.register_script(_RESERVE)
        self._add = self._redis.register_script(_ADD)
        self._reset = self._redis.register_script(_RESET)

    # -- keys -------------------------------------------------------------------------------------

    def _window_key(self, text: str) -> str:
        return f"{self.prefix}w:{_digest(text)}"

    def _scope_key(self, key: object) -> str | None:
        """The index ``reset_scope`` reads: for ``(id, scope)`` keys, the scope's set."""
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], tuple):
            return f"{self.prefix}scope:{_digest(canonical_key(key[1]))}"
        return None

    def _remember(self, text: str, window: float) -> None:
        with self._lock:
            if len(self._windows) >= MAX_REMEMBERED_KEYS:
                self._windows.clear()
            self._windows[text] = window

    def _prepare(self, key: Hashable, window: float, now: float) -> tuple[str, str]:
        text = canonical_key(key)
        window = _finite(window, "window")
        if window <= 0:
            raise StoreError("window must be positive")
        horizon = _finite(now, "now") - window
        self._remember(text, window)
        return self._window_key(text), repr(horizon)

    # -- the WindowStore interface -----------------------------------------------------------------

    def count(self, key: Hashable, window: float, now: float) -> int:
        """Events of ``key`` in ``(now - window, now]`` (and any recorded later, as in memory)."""
        rkey, horizon = self._prepare(key, window, now)
        return int(self._call("read window", self._redis.zcount, rkey, f"({horizon}", "+inf"))

    def total(self, key: Hashable, window: float, now: float) -> float:
        """Sum of the amounts of ``key``'s events inside the window."""
        rkey, horizon = self._prepare(key, window, now)
        return float(self._call("read window", self._total, keys=[rkey], args=[horizon]))

    def add(self, key: Hashable, now: float, amount: float = 1.0) -> None:
        text = canonical_key(key)
        at = _finite(now, "now")
        value = _finite(amount, "amount")
        with self._lock:
            window = self._windows.get(text, self._default_ttl_s)
        rkey = self._window_key(text)
        scope = self._scope_key(key)
        self._call(
            "record window event",
            self._add,
            keys=[rkey, scope or rkey],
            args=[repr(at), f"{value!r}|{secrets.token_hex(12)}", _ttl_ms(window), "1" if scope else "0"],
        )

    def reserve(self, claims: Sequence[Claim], now: float) -> int | None:
        """Check every claim against its window and record them all, or none, in one Lua script.

        Redis runs the script alone, so no replica adds an event between this check and this insert: the
        result is what one process deciding alone would get. Returns ``None`` when all were recorded, else
        the index of the first claim that did not fit.
        """
        at = _finite(now, "now")
        if not all(claim.record for claim in claims):
            raise StoreError("RedisWindows.reserve records every claim; check-only claims need reserve_if_unpaused")
        keys: list[str] = []
        args: list[str | int] = [len(claims), repr(at), secrets.token_hex(12)]
        for claim in claims:
            window = _finite(claim.window, "window")
            if window <= 0:
                raise StoreError("window must be positive")
            cap = _finite(claim.cap, "cap")
            amount = 1.0 if claim.counted else _finite(claim.amount, "amount")
            text = canonical_key(claim.key)
            rkey = self._window_key(text)
            scope = self._scope_key(claim.key)
            keys += [rkey, scope or rkey]
            args += [repr(at - window), "1" if claim.counted else "0", repr(amount), repr(cap), _ttl_ms(window)]
            args.append("1" if scope else "0")
        if not claims:
            return None
        for claim in claims:
            self._remember(canonical_key(claim.key), float(claim.window))
        result = int(self._call("reserve window slots", self._reserve, keys=keys, args=args))
        return None if result < 0 else result

    def reset_scope(self, scope: tuple[str, ...]) -> None:
        """Forget every window whose key is ``(anything, scope)``: used when a paused scope resumes."""
        key = f"{self.prefix}scope:{_digest(canonical_key(scope))}"
        self._call("reset windows", self._reset, keys=[key], args=[])

    def __len__(self) -> int:
        """The number of window keys under this prefix (a scan: for tests and operators, not the hot path)."""
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix) + "w:*"
        return sum(1 for _ in self._call("count windows", lambda: list(self._redis.scan_iter(match=pattern))))


# KEYS: the pauses hash, then per claim: window key, scope key. ARGV: n, now, token, the session's pause
# field, the agent-wide pause field, then per claim: horizon, counted, amount, cap, ttl_ms, has_scope,
# record. Returns -2 when the session (or its agent) is paused, -1 when every claim fitted and those with
# record = 1 were recorded (or already were: a retried call), else the 0-based index of the first claim that
# does not fit; nothing is recorded unless -1.
_RESERVE_UNPAUSED = (
    _LUA_COMMON
    + """
local n = tonumber(ARGV[1])
local now, token = ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 or redis.call('HEXISTS', KEYS[1], ARGV[5]) == 1 then
  return -2
end
local stride = 7
local function arg(i, k) return ARGV[6 + (i - 1) * stride + k] end
local function member(i) return arg(i, 2) .. '|' .. token .. ':' .. i end
for i = 1, n do
  if arg(i, 6) == '1' then
    if redis.call('ZSCORE', KEYS[2 * i], member(i)) then return -1 end
    break
  end
end
for i = 1, n do
  local key = KEYS[2 * i]
  local horizon = arg(i, 0)
  local cap = tonumber(arg(i, 3))
  local current, add
  if arg(i, 1) == '1' then
    current, add = redis.call('ZCOUNT', key, '(' .. horizon, '+inf'), 1.0
  else
    current, add = window_sum(key, horizon), tonumber(arg(i, 2))
  end
  if not (current + add <= cap) then return i - 1 end
end
for i = 1, n do
  if arg(i, 6) == '1' then
    local key, scope = KEYS[2 * i], KEYS[2 * i + 1]
    local ttl = tonumber(arg(i, 4))
    redis.call('ZREMRANGEBYSCORE', key, '-inf', arg(i, 0))
    redis.call('ZADD', key, now, member(i))
    extend(key, ttl)
    if arg(i, 5) == '1' then
      redis.call('SADD', scope, key)
      extend(scope, ttl)
    end
  end
end
return -1
"""
)


class RedisSessionWindows(RedisWindows):
    """:class:`RedisWindows` that also knows where the pauses live (the hash of a :class:`RedisStateStore`
    with the same prefix), so the allow path costs one Redis round trip: :meth:`reserve_if_unpaused`
    checks the session's pauses and every limit and budget, and records the call's slots, in one script."""

    def __init__(
        self, url: str, *, prefix: str = "warded:", timeout_s: float = 2.0, default_ttl_s: float = 31 * 86400.0
    ) -> None:
        super().__init__(url, prefix=prefix, timeout_s=timeout_s, default_ttl_s=default_ttl_s)
        self._pauses_key = pauses_key(self.prefix)
        self._unpaused = self._redis.register_script(_RESERVE_UNPAUSED)

    def reserve_if_unpaused(self, agent_id: str, session_id: str, claims: Sequence[Claim], now: float) -> bool:
        """True when neither the session nor its agent is paused and every claim fits its window; then the
        claims with ``record`` are recorded (the others are only checked). False: nothing was recorded.
        One script, so no replica can change a pause or a window between the check and the record."""
        at = _finite(now, "now")
        fields = [RedisStateStore.field(agent_id, session_id), RedisStateStore.field(agent_id, ALL_SESSIONS)]
        keys: list[str] = [self._pauses_key]
        args: list[str | int] = [len(claims), repr(at), secrets.token_hex(12), *fields]
        for claim in claims:
            window = _finite(claim.window, "window")
            if window <= 0:
                raise StoreError("window must be positive")
            cap = _finite(claim.cap, "cap")
            amount = 1.0 if claim.counted else _finite(claim.amount, "amount")
            rkey = self._window_key(canonical_key(claim.key))
            scope = self._scope_key(claim.key)
            keys += [rkey, scope or rkey]
            args += [repr(at - window), "1" if claim.counted else "0", repr(amount), repr(cap), _ttl_ms(window)]
            args += ["1" if scope else "0", "1" if claim.record else "0"]
        for claim in claims:
            self._remember(canonical_key(claim.key), float(claim.window))
        return int(self._call("reserve window slots", self._unpaused, keys=keys, args=args)) == -1


# -- pauses -----------------------------------------------------------------------------------------

# KEYS: the pauses hash. ARGV: field, value, QUARANTINE, the new rule id. 1 when newly paused (or a
# quarantine replaced by a real pause), else 0.
_PAUSE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local rule = cjson.decode(current)[2]
  if not (rule == ARGV[3] and ARGV[4] ~= ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class RedisStateStore(_RedisClient):
    """Pauses (one hash, ``{prefix}pauses``) and agent flags (``{prefix}flags``) in Redis, the same semantics
    as ``SQLiteStateStore``."""

    def __init__(self, url: str, *, prefix: str = "warded:", timeout_s: float = 2.0) -> None:
        super().__init__(url, prefix=prefix, timeout_s=timeout_s, what="Redis state store")
        self._key = pauses_key(self.prefix)
        self._flags = f"{self.prefix}flags"
        self._pause = self._redis.register_script(_PAUSE)

    @staticmethod
    def field(agent_id: str, session_id: str) -> str:
        """The hash field of a session's pause."""
        return json.dumps([_text(agent_id, "agent_id"), _text(session_id, "session_id")], separators=(",", ":"))

    @staticmethod
    def _parse(field: str | bytes, value: str | bytes) -> Pause:
        try:
            agent_id, session_id = json.loads(field)
            reason, rule_id, paused_at = json.loads(value)
            return Pause(str(agent_id), str(session_id), str(reason), str(rule_id), float(paused_at))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"a stored pause cannot be read: {exc}") from exc

    def pause(self, agent_id: str, session_id: str, reason: str, rule_id: str, at: float) -> bool:
        """Pause a session (``ALL_SESSIONS`` pauses every session of the agent). False if already paused.

        A quarantine (approval needed) is the weakest pause: a real pause replaces it, never the other
        way round."""
        value = json.dumps([str(reason), _text(rule_id, "rule_id"), _finite(at, "at")], separators=(",", ":"))
        field = self.field(agent_id, session_id)
        args = [field, value, QUARANTINE, rule_id]
        return int(self._call("pause session", self._pause, keys=[self._key], args=args)) == 1

    def resume(self, agent_id: str, session_id: str) -> bool:
        """Lift a pause. False if the session was not paused."""
        return int(self._call("resume session", self._redis.hdel, self._key, self.field(agent_id, session_id))) == 1

    def paused(self, agent_id: str, session_id: str) -> Pause | None:
        """The pause in force for this session (``state.strongest``: a real pause before a quarantine, then
        its own before the agent-wide one), if any."""
        fields = [self.field(agent_id, session_id), self.field(agent_id, ALL_SESSIONS)]
        values = self._call("read session pauses", self._redis.hmget, self._key, fields)
        found = [self._parse(f, v) for f, v in zip(fields, values, strict=True) if v is not None]
        return strongest(found, session_id)

    def list_pauses(self) -> list[Pause]:
        rows = self._call("list pauses", self._redis.hgetall, self._key)
        return sorted((self._parse(f, v) for f, v in rows.items()), key=lambda p: p.paused_at)

    # -- agent flags (one hash, ``{prefix}flags``: agent id -> [reason, rule id, time]) -----------------

    @staticmethod
    def _parse_flag(agent_id: str | bytes, value: str | bytes) -> AgentFlag:
        try:
            reason, rule_id, flagged_at = json.loads(value)
            return AgentFlag(str(agent_id), str(reason), str(rule_id), float(flagged_at))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"a stored agent flag cannot be read: {exc}") from exc

    def flag(self, agent_id: str, reason: str, rule_id: str, at: float) -> bool:
        """Flag an agent (its non-read calls need approval). False if it was flagged already (the first stays)."""
        value = json.dumps([str(reason), _text(rule_id, "rule_id"), _finite(at, "at")], separators=(",", ":"))
        return bool(self._call("flag agent", self._redis.hsetnx, self._flags, _text(agent_id, "agent_id"), value))

    def unflag(self, agent_id: str) -> bool:
        """Clear an agent's flag. False if it was not flagged."""
        return int(self._call("clear agent flag", self._redis.hdel, self._flags, _text(agent_id, "agent_id"))) == 1

    def flagged(self, agent_id: str) -> AgentFlag | None:
        value = self._call("read agent flag", self._redis.hget, self._flags, _text(agent_id, "agent_id"))
        return None if value is None else self._parse_flag(agent_id, value)

    def list_flags(self) -> list[AgentFlag]:
        rows = self._call("list agent flags", self._redis.hgetall, self._flags)
        return sorted((self._parse_flag(a, v) for a, v in rows.items()), key=lambda f: f.flagged_at)


# -- nonces -----------------------------------------------------------------------------------------


class RedisNonces(_RedisClient):
    """Single-use nonces: ``SET NX`` with an absolute expiry, so a nonce is used once across replicas."""

    def __init__(
        self, url: str, *, prefix: str = "warded:", timeout_s: float = 2.0, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(url, prefix=prefix, timeout_s=timeout_s, what="Redis nonce store")
        self._clock = clock

    def _key(self, nonce: str) -> str:
        return f"{self.prefix}nonce:{_digest(_text(nonce, 'nonce'))}"

    def mark_used(self, nonce: str, expires_at: float) -> bool:
        """True if this call used the nonce first; False if it was used before. The record is kept until
        ``expires_at`` (never less than a minute from now), after which the nonce is refused as expired."""
        key = self._key(nonce)
        keep = max(_finite(expires_at, "expires_at"), self._clock()) + SKEW_S
        done = self._call("mark nonce used", self._redis.set, key, "1", nx=True, pxat=math.ceil(keep * 1000))
        return bool(done)

    def is_used(self, nonce: str) -> bool:
        return int(self._call("read nonce", self._redis.exists, self._key(nonce))) == 1


# -- approval wake-ups ------------------------------------------------------------------------------


class ApprovalWaker(_RedisClient):
    """Wakes ``wait_for_approval`` in any replica when an approval request is decided (pub/sub).

    ``notify`` also leaves a mark for ``keep_s`` seconds, and ``wait`` subscribes before it looks for
    that mark, so a decision that lands between the waiter's last look at the store and its subscription
    is not missed."""

    def __init__(self, url: str, *, prefix: str = "warded:", timeout_s: float = 2.0, keep_s: float = 300.0) -> None:
        super().__init__(url, prefix=prefix, timeout_s=timeout_s, what="Redis approval waker")
        self._keep_ms = math.ceil(_finite(keep_s, "keep_s") * 1000)

    def _names(self, request_id: str) -> tuple[str, str]:
        digest = _digest(_text(request_id, "request_id"))
        return f"{self.prefix}approval:{digest}", f"{self.prefix}decided:{digest}"

    def notify(self, request_id: str) -> None:
        channel, mark = self._names(request_id)

        def send() -> None:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(mark, "1", px=self._keep_ms)
                pipe.publish(channel, "decided")
                pipe.execute()

        self._call("notify approval", send)

    def wait(self, request_id: str, timeout_s: float) -> bool:
        """Block until ``request_id`` is notified (True) or ``timeout_s`` passes (False)."""
        channel, mark = self._names(request_id)
        deadline = time.monotonic() + max(0.0, _finite(timeout_s, "timeout_s"))

        def listen() -> bool:
            pubsub = self._redis.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(channel)
                subscribed = False
                while (left := deadline - time.monotonic()) > 0:
                    message = pubsub.get_message(timeout=left)
                    kind = None if message is None else message.get("type")
                    if kind == "message":
                        return True
                    if kind == "subscribe":  # subscribed: from now on no notification can be missed
                        subscribed = True
                        if self._redis.exists(mark):
                            return True
                return False if subscribed else bool(self._redis.exists(mark))
            finally:
                pubsub.close()

        return self._call("wait for approval", listen)
