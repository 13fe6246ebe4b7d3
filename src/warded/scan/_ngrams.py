"""Hashed character and word n-grams, vectorised with numpy: the features of the injection classifier.

Shared by the runtime scanner and the training code, so both see exactly the same features.

A text is cut into windows of ``WINDOW`` characters (``STRIDE`` apart); each window is one sample. Its
features are the character 3-, 4- and 5-grams and the word 1- and 2-grams, each hashed into
``2**bits`` buckets. Within a window, every occurrence of a feature of group ``g`` adds
``1 / sqrt(n_g)`` (``n_g``: occurrences of that group in the window), so a linear model's logit is a
sum of gathered weights: no sort, no dictionary, no Python loop over characters.

Hashing is a polynomial rolling hash mod 2**64 over code points, computed from prefix sums, so any
substring's hash costs O(1) and all of them come out of a few array operations. It does not depend
on ``PYTHONHASHSEED``: the same text gives the same features in every process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CHAR_NS", "GROUPS", "STRIDE", "WINDOW", "Hashed", "hash_text", "prepare", "window_bounds"]

WINDOW = 2048
STRIDE = 1024
CHAR_NS = (3, 4, 5)
GROUPS = ("c3", "c4", "c5", "w1", "w2")

_U64 = np.uint64
_K = 0x100000001B3  # FNV-64 prime: odd, so invertible mod 2**64
_K_INV = pow(_K, -1, 1 << 64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier for the final bucket
_SALTS = tuple(np.uint64(0xA24BAED4963EE407 * (i + 1) % (1 << 64)) for i in range(len(GROUPS)))
_PAIR = np.uint64(0xC2B2AE3D27D4EB4F)
_MAX_SEGMENT = 1 << 16  # the power tables cover this many code points; longer texts go segment by segment

# 1 where a code point is part of a word (letters, digits), 0 for spaces and punctuation. Beyond ASCII,
# the general-punctuation, CJK-punctuation and full-width-punctuation blocks are separators too.
_ASCII_WORD = np.zeros(128, dtype=bool)
for _ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _ASCII_WORD[ord(_ch)] = True


def _powers(base: int, n: int) -> npt.NDArray[np.uint64]:
    """``base**i mod 2**64`` for ``i < n``: the first 64 in Python integers, then by doubling on arrays
    (numpy's unsigned array arithmetic wraps, which is exactly the modulus wanted)."""
    first = min(n, 64)
    out = np.empty(n, dtype=_U64)
    out[:first] = [pow(base, i, 1 << 64) for i in range(first)]
    step = first
    while step < n:
        m = min(step, n - step)
        out[step : step + m] = out[:m] * np.uint64(pow(base, step, 1 << 64))
        step += m
    return out


_POW = _powers(_K, _MAX_SEGMENT + 1)
_POW_INV = _powers(_K_INV, _MAX_SEGMENT + 1)


def prepare(text: str) -> str:
    """Collapse runs of whitespace to one space and trim: spacing must not change the features."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Hashed:
    """The hashed features of one text: per group, bucket ids and the start position of each occurrence."""

    length: int
    buckets: tuple[npt.NDArray[np.int64], ...]
    starts: tuple[npt.NDArray[np.int64], ...]
    spans: tuple[int, ...]  # characters each group's feature covers at least (n for char n-grams, 1 for words)


def _codepoints(text: str) -> npt.NDArray[np.uint64]:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(_U64) + _U64(1)


def _bucket(h: npt.NDArray[np.uint64], group: int, bits: int) -> npt.NDArray[np.int64]:
    mixed = (h ^ _SALTS[group]) * _MIX
    return (mixed >> _U64(64 - bits)).astype(np.int64)


def _segment(cp: npt.NDArray[np.uint64], offset: int, bits: int) -> list[tuple[npt.NDArray[np.int64], ...]]:
    n = len(cp)
    prefix = np.zeros(n + 1, dtype=_U64)
    np.cumsum(cp * _POW[:n], out=prefix[1:])

    def sub(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        res: npt.NDArray[np.uint64] = (prefix[b] - prefix[a]) * _POW_INV[a]
        return res

    out: list[tuple[npt.NDArray[np.int64], ...]] = []
    for g, k in enumerate(CHAR_NS):
        if n >= k:
            a = np.arange(n - k + 1, dtype=np.int64)
            out.append((_bucket(sub(a, a + k), g, bits), a + offset))
        else:
            out.append((np.empty(0, np.int64), np.empty(0, np.int64)))
    is_word = np.ones(n, dtype=bool)
    small = cp <= 128
    is_word[small] = _ASCII_WORD[(cp[small] - _U64(1)).astype(np.int64)]
    big = cp - _U64(1)
    is_word &= ~(
        ((big >= 0x80) & (big < 0xC0))
        | ((big >= 0x2000) & (big < 0x2070))
        | ((big >= 0x3000) & (big < 0x3040))
        | ((big >= 0xFF00) & (big < 0xFF10))
        | ((big >= 0xFF1A) & (big < 0xFF21))
    )
    edges = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
    ws = np.flatnonzero(edges == 1).astype(np.int64)
    we = np.flatnonzero(edges == -1).astype(np.int64)
    wh = sub(ws, we)
    out.append((_bucket(wh, 3, bits), ws + offset))
    if len(wh) > 1:
        pair = wh[:-1] * _PAIR + wh[1:]
        out.append((_bucket(pair, 4, bits), ws[:-1] + offset))
    else:
        out.append((np.empty(0, np.int64), np.empty(0, np.int64)))
    return out


def hash_text(text: str, bits: int) -> Hashed:
    """Hash every feature of an already :func:`prepare`-d text. Texts longer than 64 Ki code points are
    hashed segment by segment (features never straddle a segment boundary)."""
    cp = _codepoints(text)
    n = len(cp)
    parts: list[list[tuple[npt.NDArray[np.int64], ...]]] = []
    for off in range(0, max(n, 1), _MAX_SEGMENT):
        parts.append(_segment(cp[off : off + _MAX_SEGMENT], off, bits))
    buckets = tuple(np.concatenate([p[g][0] for p in parts]) for g in range(len(GROUPS)))
    starts = tuple(np.concatenate([p[g][1] for p in parts]) for g in range(len(GROUPS)))
    return Hashed(length=n, buckets=buckets, starts=starts, spans=(*CHAR_NS, 1, 1))


def window_bounds(length: int, window: int = WINDOW, stride: int = STRIDE) -> list[tuple[int, int]]:
    """``[start, end)`` of every window over a text of ``length`` code points (one window if it fits)."""
    if window <= 0 or stride <= 0:
        raise ValueError("window and stride must be positive")
    if length <= window:
        return [(0, length)]
    bounds = [(a, a + window) for a in range(0, length - window, stride)]
    bounds.append((length - window, length))
    return bounds
