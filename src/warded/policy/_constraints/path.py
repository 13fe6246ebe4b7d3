"""The ``path`` family: a filesystem path that must stay inside configured roots.

Order of checks, all on the string (the file is never opened):

1. Refuse non-strings, the empty string, NUL and other control characters, invisible (format) and
   separator characters other than the space, backslashes, strings that are not valid UTF-8, paths
   longer than 4096 characters and a leading ``~`` (tools may expand it).
2. A relative path (anything not starting with ``/``: ``private.txt``, ``.``, ``./x``, ``sub/../x``) is
   refused unless the spec names ``base:``, the absolute directory the tool is known to resolve relative
   paths against; with ``base`` it is joined to it. A relative path means whatever the tool's own working
   directory makes of it (the npm reference filesystem server resolves it against *its* allowed
   directories, which may be wider than the policy's roots), and warded cannot see that directory: so
   without a declared base it has no meaning warded can judge. Repeated leading slashes collapse to one
   (Linux reads ``//srv`` as ``/srv``).
3. Lexical check: ``posixpath.normpath`` of that path must be inside a root (``..`` escapes end here).
4. With ``resolve_symlinks`` (the default), ``os.path.realpath`` of the *un-normalised* joined path must be
   inside a root too, after the roots themselves were realpath'd when the policy loaded. This is the one
   filesystem read the constraints make (``lstat``/``readlink`` per component). A path that cannot be
   resolved for another reason than a missing file (a symlink loop, no permission) is refused. Resolving the original
   string matters: for ``root/link/../x`` the kernel follows ``link`` before applying ``..``, which lexical
   normalisation would get wrong.
5. ``deny_globs`` must match neither the resolved path nor the lexical one; they match case-insensitively,
   so ``.SSH`` on a case-insensitive filesystem is still denied. If ``globs`` are given the resolved path
   must match one (case-sensitively). Glob syntax: :mod:`._glob`.

"Inside" compares whole path components: ``/srv/mail2`` is not inside ``/srv/mail``.

Limits: the check and the tool's own ``open`` are two moments (a symlink swapped in between is not seen);
tools that must be safe against that should open with ``O_NOFOLLOW``/``openat2(RESOLVE_BENEATH)``. With
``base`` declared, the policy author vouches that the tool resolves relative paths against exactly that
directory; if the tool uses another one (its working directory changed, MCP roots were renegotiated) a
relative path may land elsewhere. Without ``base`` every relative path is refused.
"""

from __future__ import annotations

import os
import posixpath

from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, StrTuple, Subject, encodable, exact_str
from ._glob import Glob, compile_glob

MAX_PATH = 4096


def _unsafe(text: str) -> bool:
    """Control, format (zero-width, BOM) and separator characters other than ' ', or a backslash."""
    return not text.isprintable() or "\\" in text


class PathSpec(BaseModel):
    """``path: {roots: [...], base: /dir, globs: [...], deny_globs: [...], resolve_symlinks: true}``.

    ``base`` is the absolute directory the tool resolves relative paths against; without it relative
    paths are refused.
    """

    model_config = STRICT

    roots: StrTuple
    base: str | None = None
    globs: StrTuple = ()
    deny_globs: StrTuple = ()
    resolve_symlinks: bool = True


#: The words every refusal of a relative path carries (stable: tests and operators match on them).
RELATIVE_NO_BASE = "is relative and the policy declares no base directory for it"


def _clean_dir(root: str, where: str) -> str:
    if not root.startswith("/"):
        raise ValueError(f"{where} is not an absolute path")
    if _unsafe(root):
        raise ValueError(f"{where} contains a control or invisible character, or a backslash")
    return posixpath.normpath("/" + root.lstrip("/"))


def _relatives(path: str, roots: tuple[str, ...]) -> list[str]:
    """``path`` relative to each root that contains it (component-wise); empty if none does."""
    found: list[str] = []
    for root in roots:
        if root == "/":
            found.append(path[1:])
        elif path == root:
            found.append("")
        elif path.startswith(root) and path[len(root)] == "/":
            found.append(path[len(root) + 1 :])
    return found


def _resolve(path: str) -> str | None:
    """``realpath`` of ``path``; None when resolution fails other than by a missing file (a symlink loop)."""
    try:
        real = os.path.realpath(path, strict=True)
    except (FileNotFoundError, NotADirectoryError):
        real = os.path.realpath(path)  # a file that does not exist yet: resolve what does exist
    except OSError:
        return None
    # realpath gives up at a loop and returns the rest unresolved; never judge such a string.
    if posixpath.normpath(real) != real:
        return None
    return real


def _any_match(globs: tuple[Glob, ...], path: str, relatives: list[str]) -> bool:
    return any(g.matches(path, rel) for g in globs for rel in relatives)


class PathCheck(FamilyCheck):
    __slots__ = ("_arg", "_base", "_deny", "_globs", "_lexical_roots", "_real_roots", "_resolve", "_show")

    family = "path"

    def __init__(self, spec: PathSpec, subject: Subject) -> None:
        if not spec.roots:
            raise ValueError("path.roots is empty: give at least one absolute directory")
        self._lexical_roots = tuple(_clean_dir(root, f"path.roots[{i}] {root!r}") for i, root in enumerate(spec.roots))
        self._base = None if spec.base is None else _clean_dir(spec.base, f"path.base {spec.base!r}")
        self._resolve = spec.resolve_symlinks
        self._real_roots = (
            tuple(os.path.realpath(root) for root in self._lexical_roots) if self._resolve else self._lexical_roots
        )
        self._globs = tuple(self._glob(g, "globs", i, ignore_case=False) for i, g in enumerate(spec.globs))
        self._deny = tuple(self._glob(g, "deny_globs", i, ignore_case=True) for i, g in enumerate(spec.deny_globs))
        self._arg = subject.arg
        self._show = subject.show

    @staticmethod
    def _glob(text: str, where: str, index: int, *, ignore_case: bool) -> Glob:
        try:
            return compile_glob(text, ignore_case=ignore_case)
        except ValueError as exc:
            raise ValueError(f"path.{where}[{index}]: {exc}") from exc

    def _refuse(self, value: object, why: str) -> str:
        return f"argument {self._arg!r}: path {self._show(value)} {why}"

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is None:
            return f"argument {self._arg!r}: {self._show(value)} is not a string (a path is required)"
        if not text:
            return f"argument {self._arg!r}: the path is empty"
        if len(text) > MAX_PATH:
            return f"argument {self._arg!r}: the path is longer than {MAX_PATH} characters"
        if _unsafe(text):
            return self._refuse(value, "contains NUL, a control or invisible character, or a backslash")
        if not encodable(text):
            return self._refuse(value, "is not valid UTF-8")
        if text.startswith("~"):
            return self._refuse(value, "starts with '~' (home-directory shorthand is refused)")
        if text.startswith("/"):
            joined = "/" + text.lstrip("/")
        elif self._base is None:
            return self._refuse(
                value, f"{RELATIVE_NO_BASE} (the tool resolves it against a directory warded cannot see)"
            )
        else:
            joined = self._base + "/" + text
        lexical = posixpath.normpath(joined)
        lexical_rel = _relatives(lexical, self._lexical_roots)
        if not lexical_rel:
            return self._refuse(value, "is outside the allowed roots")
        if self._resolve:
            real = _resolve(joined)
            if real is None:
                return self._refuse(value, "cannot be resolved (symlink loop or unreadable directory)")
            real_rel = _relatives(real, self._real_roots)
            if not real_rel:
                return self._refuse(value, "resolves (through a symlink) outside the allowed roots")
        else:
            real, real_rel = lexical, lexical_rel
        if _any_match(self._deny, real, real_rel) or _any_match(self._deny, lexical, lexical_rel):
            return self._refuse(value, "matches a denied glob")
        if self._globs and not _any_match(self._globs, real, real_rel):
            return self._refuse(value, "matches none of the allowed globs")
        return None
