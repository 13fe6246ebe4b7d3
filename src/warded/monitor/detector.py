"""Online change detection over an agent's calls: a baseline learnt from a warm-up, then binomial tests
over a sliding window. Robust statistics a person can check by hand, not a black box.

**Signals.** Each call sets zero or more of these flags (:data:`SIGNALS`): it used a tool the agent never
used (``new_tool``), an argument shape never seen (``new_shape``), touched a directory outside the agent's
usual ones (``new_dir``), a domain never seen (``new_domain``), a recipient or account never seen
(``new_recipient``); it was denied (``denied``) or needed approval (``approval``); the content guard found
something in its arguments (``findings``); its arguments held more than the monitor reads, so what lay past
the bound was not looked at (``unread``: never learnt, a bound reached is a signal, not silence). A model
completion relayed by the chat proxy is an observation in the same window (pseudo-tool ``chat.completion``):
it refused (``refusal``), or its text was withheld as policy-violating (``violation``). "Never seen" means
not in what the agent did during its warm-up (and its allowed calls since: an allowed new place is learnt
after its first use).

**Baseline.** The first ``baseline`` calls are the warm-up. Every flag's per-call rate ``p`` is estimated on
the warm-up's second half (by then the known sets have filled, so the rate measures how often an ordinary
call still brings something new), with a half-count prior so that a flag never seen has ``p > 0``. From
``p`` and the window length ``W`` the monitor computes once, exactly, the smallest count ``k`` with
``P[Binomial(W, p) >= k] < alpha``: seeing ``k`` flagged calls among the last ``W`` has less than ``alpha``
chance under the baseline. A floor of :data:`MIN_COUNT` flagged calls keeps one odd call from alerting.

**Rate.** The duration of the last ``W`` calls is compared with the warm-up's: an alert when its
logarithm is more than :data:`RATE_Z` robust standard deviations (median and MAD) below the median.

**Alerts.** When any flag reaches its ``k``, one alert names every flag above its expectation, with counts,
the places involved and the baseline ("agent coder-1: 14 calls touching 9 directories outside its usual
ones in the last 20 calls (/etc, ~/.ssh, ...); 6 denied calls in the last 20 calls, baseline 0.2 per 100
calls"). After an alert the agent's window is cleared, so one episode raises one alert, and a
continuing one raises another after ``W`` more calls.

The model is plain data (:meth:`AgentModel.to_json`) stored with the gateway's state, so a restart keeps
the baseline. This module is pure: no clock, no disk.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from warded.monitor.signals import Observation

__all__ = ["MAX_KNOWN", "MIN_COUNT", "RATE_Z", "SIGNALS", "AgentModel", "Anomaly", "threshold"]

SIGNALS = (
    "new_tool",
    "new_shape",
    "new_dir",
    "new_domain",
    "new_recipient",
    "denied",
    "approval",
    "findings",
    "refusal",
    "violation",
    "unread",
)
_KNOWN = ("tools", "shapes", "dirs", "domains", "recipients")
_UNREAD = "(past the reading bound)"
#: Signals a stored model may lack (added since it was stored): each starts at the half-count prior.
_ADDED = ("unread",)
MIN_COUNT = 3
RATE_Z = 8.0
#: The most items remembered per known set. Past it nothing more is learnt: new places stay new (more alerts,
#: never fewer), and the fingerprint says the set is full.
MAX_KNOWN = 20_000
_MAD_SCALE = 1.4826
T = TypeVar("T", int, float)


def threshold(p: float, window: int, alpha: float) -> int:
    """The smallest ``k`` with ``P[Binomial(window, p) >= k] < alpha`` (at least :data:`MIN_COUNT`);
    ``window + 1`` when no count in the window is unlikely enough."""
    p = min(max(p, 1e-12), 1.0)
    tail = 1.0  # P[X >= 0]
    for k in range(window + 1):
        if k >= MIN_COUNT and tail < alpha:
            return k
        tail -= math.comb(window, k) * p**k * (1.0 - p) ** (window - k)
    return window + 1


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One alert's content: what was unusual, in numbers and in words."""

    agent_id: str
    session_id: str
    at: float
    message: str
    signals: Mapping[str, Mapping[str, Any]]  # flag -> {count, window, expected, threshold, items}
    calls: int  # calls observed for this agent so far


@dataclass(slots=True)
class _Slot:
    flags: int
    items: tuple[tuple[int, tuple[str, ...]], ...]  # (signal index, the new places behind it)
    at: float


@dataclass(slots=True)
class AgentModel:
    """The fingerprint and baseline of one agent. Mutable; updated by :meth:`observe`."""

    agent_id: str
    baseline: int
    window: int
    alpha: float
    calls: int = 0
    known: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in _KNOWN})
    tool_mix: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    late_flags: list[int] = field(default_factory=lambda: [0] * len(SIGNALS))
    late_calls: int = 0
    late_log_spans: list[float] = field(default_factory=list)
    rates: list[float] | None = None  # per-signal p, once the warm-up is over
    thresholds: list[int] | None = None
    span_median: float | None = None
    span_mad: float | None = None
    alerts: int = 0
    first_at: float | None = None
    last_at: float | None = None
    _slots: deque[_Slot] = field(default_factory=deque)
    _counts: list[int] = field(default_factory=lambda: [0] * len(SIGNALS))

    @property
    def learning(self) -> bool:
        return self.rates is None

    # -- one call --------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> Anomaly | None:
        """Fold one decided call into the model; an :class:`Anomaly` when it completes an unusual window."""
        self.calls += 1
        if self.first_at is None:
            self.first_at = obs.at
        self.last_at = obs.at
        self.tool_mix[obs.tool] += 1
        self.verdicts[obs.verdict] += 1
        flags, items, shape_new = self._flags(obs)
        learning = self.rates is None
        if learning or obs.verdict == "allow":
            self._learn(obs, items, shape_new)
        self._slots.append(_Slot(flags, items, obs.at))
        counts = self._counts
        bits = flags
        while bits:  # only the flags that are set
            low = bits & -bits
            counts[low.bit_length() - 1] += 1
            bits ^= low
        if len(self._slots) > self.window:
            bits = self._slots.popleft().flags
            while bits:
                low = bits & -bits
                counts[low.bit_length() - 1] -= 1
                bits ^= low
        if learning:
            self._warm(flags)
            return None
        return self._test(obs, flags)

    def _flags(self, obs: Observation) -> tuple[int, tuple[tuple[int, tuple[str, ...]], ...], bool]:
        known = self.known
        flags = 0
        items: list[tuple[int, tuple[str, ...]]] = []
        if obs.tool not in known["tools"]:
            flags |= 1
            items.append((0, (obs.tool,)))
        shape_new = obs.shape not in known["shapes"]
        if shape_new:
            flags |= 2
        for index, name, values in (
            (2, "dirs", obs.dirs),
            (3, "domains", obs.domains),
            (4, "recipients", obs.recipients),
        ):
            if values:
                seen = known[name]
                new = tuple(v for v in values if v not in seen)
                if new:
                    flags |= 1 << index
                    items.append((index, new))
        if obs.verdict == "deny":
            flags |= 1 << 5
        elif obs.verdict == "require_approval":
            flags |= 1 << 6
        if obs.findings:
            flags |= 1 << 7
        if obs.refused:
            flags |= 1 << 8
        if obs.violation:
            flags |= 1 << 9
        if obs.truncated:  # arguments past the reading bound: what lies there was not looked at
            flags |= 1 << 10
            items.append((10, (_UNREAD,)))
        return flags, tuple(items), shape_new

    def _learn(self, obs: Observation, items: tuple[tuple[int, tuple[str, ...]], ...], shape_new: bool) -> None:
        """Remember what was new in this call (``items`` from :meth:`_flags`): nothing else can be."""
        known = self.known
        if shape_new and len(known["shapes"]) < MAX_KNOWN:
            known["shapes"].add(obs.shape)
        for index, values in items:
            if index >= len(_KNOWN):  # an unread call is never a known place
                continue
            target = known[_KNOWN[index]]
            for v in values:
                if len(target) < MAX_KNOWN:
                    target.add(v)

    # -- the warm-up -----------------------------------------------------------------------------

    def _warm(self, flags: int) -> None:
        if self.calls > self.baseline // 2:
            self.late_calls += 1
            for i in range(len(SIGNALS)):
                if flags >> i & 1:
                    self.late_flags[i] += 1
            span = self._span()
            if span is not None:
                self.late_log_spans.append(span)
        if self.calls >= self.baseline:
            self.finish_warm_up()

    def finish_warm_up(self) -> None:
        """Fix the baseline: per-signal rates, their thresholds, the rate of calls."""
        n = max(self.late_calls, 1)
        self.rates = [(c + 0.5) / (n + 1) for c in self.late_flags]
        self.thresholds = [threshold(p, self.window, self.alpha) for p in self.rates]
        spans = sorted(self.late_log_spans)
        if len(spans) >= 20:
            median = spans[len(spans) // 2]
            mad = sorted(abs(s - median) for s in spans)[len(spans) // 2]
            self.span_median, self.span_mad = median, mad
        self.late_log_spans = []
        self._reset_window()

    def _span(self) -> float | None:
        if len(self._slots) < self.window:
            return None
        span = self._slots[-1].at - self._slots[0].at
        return math.log(max(span, 1e-3))

    def _reset_window(self) -> None:
        self._slots.clear()
        self._counts = [0] * len(SIGNALS)

    # -- the test --------------------------------------------------------------------------------

    def _test(self, obs: Observation, flags: int) -> Anomaly | None:
        assert self.rates is not None and self.thresholds is not None  # set when the warm-up ends
        # A count grows only where this call set its flag, and every count was below its threshold before
        # this call: only the flags just set can have reached theirs.
        fired = False
        counts, thresholds = self._counts, self.thresholds
        while flags and not fired:
            low = flags & -flags
            i = low.bit_length() - 1
            fired = counts[i] >= thresholds[i]
            flags ^= low
        fast = False
        span = self._span()
        if span is not None and self.span_median is not None and self.span_mad is not None and self.span_mad > 0:
            fast = (self.span_median - span) / (_MAD_SCALE * self.span_mad) > RATE_Z
        if not fired and not fast:
            return None
        anomaly = self._explain(obs, fast, span)
        self.alerts += 1
        self._reset_window()
        return anomaly

    def _explain(self, obs: Observation, fast: bool, span: float | None) -> Anomaly:
        assert self.rates is not None and self.thresholds is not None
        w = len(self._slots)
        signals: dict[str, dict[str, Any]] = {}
        parts: list[str] = []
        for i, name in enumerate(SIGNALS):
            count = self._counts[i]
            expected = self.rates[i] * w
            if count < 2 or count <= expected * 2:
                continue
            places: dict[str, None] = {}
            for slot in self._slots:
                for index, new in slot.items:
                    if index == i:
                        places.update(dict.fromkeys(new))
            signals[name] = {
                "count": count,
                "window": w,
                "expected": round(expected, 3),
                "threshold": self.thresholds[i],
                "items": list(places)[:10],
            }
            parts.append(_phrase(name, count, w, list(places), self.rates[i]))
        if fast and span is not None and self.span_median is not None:
            factor = math.exp(self.span_median - span)
            signals["rate"] = {"window": w, "seconds": round(math.exp(span), 3), "factor": round(factor, 1)}
            parts.append(
                f"{w} calls in {math.exp(span):.1f} s, {factor:.0f}x faster than its usual "
                f"{math.exp(self.span_median):.0f} s per {w} calls"
            )
        message = f"agent {obs.agent_id}: " + "; ".join(parts)
        return Anomaly(obs.agent_id, obs.session_id, obs.at, message, signals, self.calls)

    # -- the fingerprint and persistence -----------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        """What the agent usually does, for people: its calls, tool mix, verdicts, places and baseline."""
        out: dict[str, Any] = {
            "agent_id": self.agent_id,
            "calls": self.calls,
            "learning": self.learning,
            "baseline_calls": self.baseline,
            "tool_mix": dict(self.tool_mix.most_common(20)),
            "verdicts": dict(self.verdicts),
            "distinct": {k: len(v) for k, v in self.known.items()},
            "alerts": self.alerts,
        }
        if self.rates is not None:
            out["baseline_per_100_calls"] = {s: round(p * 100, 3) for s, p in zip(SIGNALS, self.rates, strict=True)}
        if self.first_at is not None and self.last_at is not None and self.last_at > self.first_at:
            out["calls_per_minute"] = round(self.calls / ((self.last_at - self.first_at) / 60.0), 3)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "baseline": self.baseline,
            "window": self.window,
            "alpha": self.alpha,
            "calls": self.calls,
            "known": {k: sorted(v) for k, v in self.known.items()},
            "tool_mix": dict(self.tool_mix),
            "verdicts": dict(self.verdicts),
            "late_flags": self.late_flags,
            "late_calls": self.late_calls,
            "late_log_spans": self.late_log_spans,
            "rates": self.rates,
            "span": [self.span_median, self.span_mad],
            "alerts": self.alerts,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, window: int, alpha: float, baseline: int) -> AgentModel:
        """Restore a stored model. A model learnt with other settings keeps its known places and counts but
        learns its rates again if the warm-up length changed; thresholds follow the current ``window`` and
        ``alpha``. Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed record."""
        model = cls(str(data["agent_id"]), baseline, window, alpha)
        model.calls = int(data["calls"])
        model.known = {k: {str(x) for x in data["known"].get(k, [])} for k in _KNOWN}
        model.tool_mix = Counter({str(k): int(v) for k, v in data["tool_mix"].items()})
        model.verdicts = Counter({str(k): int(v) for k, v in data["verdicts"].items()})
        model.alerts = int(data["alerts"])
        model.first_at = None if data["first_at"] is None else float(data["first_at"])
        model.last_at = None if data["last_at"] is None else float(data["last_at"])
        same = int(data["baseline"]) == baseline
        rates = data["rates"]
        late_calls = int(data["late_calls"])
        if same and rates is not None:
            model.rates = _filled([float(p) for p in rates], 0.5 / (late_calls + 1))
            model.thresholds = [threshold(p, window, alpha) for p in model.rates]
            median, mad = data["span"]
            model.span_median = None if median is None else float(median)
            model.span_mad = None if mad is None else float(mad)
        elif same:
            model.late_flags = _filled([int(c) for c in data["late_flags"]], 0)
            model.late_calls = late_calls
            model.late_log_spans = [float(s) for s in data["late_log_spans"]]
        else:
            model.calls = 0  # a new warm-up length: learn the rates again (the known places stay)
        return model


def _filled(values: list[T], prior: T) -> list[T]:
    """Stored per-signal values, with ``prior`` for each signal added since (:data:`_ADDED`)."""
    missing = len(SIGNALS) - len(values)
    if missing < 0 or missing > len(_ADDED):
        raise ValueError("stored per-signal values do not match the signals")
    return values + [prior] * missing


_WORDS = {
    "new_tool": "calls to tools it never used",
    "new_shape": "calls with argument shapes it never used",
    "new_dir": "calls touching directories outside its usual ones",
    "new_domain": "calls to domains it never used",
    "new_recipient": "calls to recipients or accounts it never used",
    "denied": "denied calls",
    "approval": "calls that needed approval",
    "findings": "calls with content-guard findings",
    "refusal": "model completions that refused",
    "violation": "model completions withheld as policy-violating",
    "unread": "calls with more arguments than the monitor reads (read up to its bound)",
}


def _phrase(name: str, count: int, window: int, places: list[str], rate: float) -> str:
    text = f"{count} {_WORDS[name]} in the last {window} calls"
    if places:
        shown = ", ".join(places[:5]) + (", ..." if len(places) > 5 else "")
        text += f" ({len(places)} distinct: {shown})"
    return text + f", baseline {rate * 100:.2g} per 100 calls"
