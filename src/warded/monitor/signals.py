"""What one decided tool call tells the monitor: a small, fixed set of facts read from the call.

The monitor never sees argument values whole. From each call it keeps the tool, the shape of its
arguments (the sorted key names), the verdict, whether the content guard found anything, and the
*places* the call touches: the directories of file paths, the domains of URLs and e-mail addresses, and
the recipients (e-mail addresses, IBAN-shaped account numbers). Those are what an agent that starts to
probe changes first: new directories, denied writes, a new domain to send data to.

Reading is bounded (:data:`MAX_TEXTS` strings, keys of nested objects included, :data:`MAX_DEPTH` levels):
the monitor runs on every call, inside the gateway's lock, and must cost microseconds. A call with more than
that is read up to the bound and marked ``truncated``, which is a signal of its own (``unread``), never
skipped silently. A string that starts like a path (``/``, ``~``, ``./``, ``../``, a drive letter) is read as a
path even when it holds spaces or is long: padding a path does not hide its directory.

Model completions the chat proxy relays are observations too (:func:`read_output`): whether the model
refused, and whether its text was withheld as policy-violating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MAX_DEPTH", "MAX_TEXTS", "OUTPUT_TOOL", "Observation", "read_call", "read_output"]

OUTPUT_TOOL = "chat.completion"  # model completions share the agent's window under this pseudo-tool

MAX_TEXTS = 64
MAX_DEPTH = 6
_DIR_PARTS = 3  # "/home/dev/project/src/app.py" lies in the directory "/home/dev/project"
_PATH_KEYS = ("path", "file", "dir", "folder", "filename")
_URL_KEYS = ("url", "link", "domain", "host", "site")


@dataclass(slots=True)
class Observation:
    """One decided call, as the monitor keeps it (not frozen: built on every call, and a frozen dataclass's
    ``__init__`` costs several times more; nothing mutates it)."""

    agent_id: str
    session_id: str
    tool: str
    shape: str  # tool(sorted argument keys)
    verdict: str  # allow | deny | require_approval
    at: float
    findings: int = 0  # content-guard findings on the arguments
    dirs: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    truncated: bool = False
    refused: bool = False  # a model completion that refused (the chat proxy's ``refusal`` field)
    violation: bool = False  # a model completion withheld for policy-violating text


def read_output(  # noqa: PLR0917 - the facts of one model completion, as the chat proxy has them
    agent_id: str, session_id: str, at: float, refused: bool, findings: int, blocked: bool
) -> Observation:
    """The observation of one model completion seen by the chat proxy (tool ``chat.completion``)."""
    return Observation(
        agent_id, session_id, OUTPUT_TOOL, f"{OUTPUT_TOOL}()", "allow", at, findings, refused=refused, violation=blocked
    )


def _directory(text: str) -> str:
    """The top of a path's directory: its first :data:`_DIR_PARTS` components below the root."""
    if text.startswith("~"):
        root, rest = "~", text[1:]
    elif text.startswith("/"):
        root, rest = "/", text
    elif len(text) > 2 and text[1] == ":" and text[2] in "/\\":
        root, rest = text[:2].lower(), text[2:]
    else:
        root, rest = ".", text
    parts = [p for p in rest.replace("\\", "/").split("/") if p and p != "."]
    parts = parts[:-1]  # the file itself is not a directory
    if ".." in parts:
        return root + "/" + "/".join(parts)  # a climb is its own place; never folded into a known one
    return (root.rstrip("/") + "/" + "/".join(parts[:_DIR_PARTS])) if parts else root


def _host(text: str, start: int) -> str:
    end = start
    n = len(text)
    while end < n and text[end] not in "/?#: \t\n\"'<>)]}":
        end += 1
    host = text[start:end].lower().rstrip(".")
    at = host.rfind("@")
    return host[at + 1 :] if at >= 0 else host


def _looks_like_path(text: str) -> bool:
    """Starts as a filesystem path does (and is one line): read as one, whatever else it holds."""
    if "\n" in text or "://" in text:
        return False
    return text.startswith(("/", "~", "./", "../", "\\")) or (
        len(text) > 2 and text[0].isalpha() and text[1] == ":" and text[2] in "/\\"
    )


def _is_iban(text: str) -> bool:
    return (
        15 <= len(text) <= 34
        and text[:2].isalpha()
        and text[:2].isupper()
        and text[2:4].isdigit()
        and text[4:].isalnum()
        and text.upper() == text
    )


class _Reader:
    __slots__ = ("dirs", "domains", "recipients", "seen", "truncated")

    def __init__(self) -> None:
        self.dirs: list[str] = []
        self.domains: list[str] = []
        self.recipients: list[str] = []
        self.seen = 0
        self.truncated = False

    def text(self, key: str, text: str) -> None:
        if _looks_like_path(text):
            self.dirs.append(_directory(text))
            return
        if len(text) > 2048 or " " in text.strip():
            # Prose: look only for links and addresses in it, not for paths.
            start = text.find("://")
            while start > 0 and len(self.domains) < MAX_TEXTS:
                self.domains.append(_host(text, start + 3))
                start = text.find("://", start + 3)
            return
        if "://" in text:
            if text[:7].lower() == "file://":  # a local path in URL form: its directory, not a domain
                rest = text[7:]
                self.dirs.append(_directory(rest[rest.find("/") :] if "/" in rest else "/"))
                return
            self.domains.append(_host(text, text.find("://") + 3))
            return
        lowered = key.lower()
        if "." in text and any(k in lowered for k in _URL_KEYS):  # "www.example.com" under a url/domain key
            self.domains.append(_host(text, 0))
            return
        if "@" in text and "." in text.partition("@")[2] and "/" not in text:
            address = text.lower().strip("<>")
            self.recipients.append(address)
            self.domains.append(address.rpartition("@")[2])
            return
        if _is_iban(text):
            self.recipients.append(text)
            return
        if "/" in text or "\\" in text or text.startswith("~"):
            self.dirs.append(_directory(text))
        elif "." in text and any(k in lowered for k in _PATH_KEYS):  # a bare file name ("bill-2023.txt")
            self.dirs.append(".")

    def value(self, key: str, value: object, depth: int) -> None:
        if self.seen >= MAX_TEXTS or depth > MAX_DEPTH:
            self.truncated = True
            return
        if isinstance(value, str):
            self.seen += 1
            self.text(key, value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self.value(key, k, depth + 1)  # a nested object's keys are data too: {"/etc/shadow": "r"}
                self.value(str(k), v, depth + 1)
        elif isinstance(value, (list, tuple)):
            for v in value:
                self.value(key, v, depth + 1)


def read_call(  # noqa: PLR0917 - the facts of one decided call, in the order the gateway has them
    agent_id: str,
    session_id: str,
    tool: str,
    arguments: Mapping[str, object],
    verdict: str,
    at: float,
    findings: int = 0,
) -> Observation:
    """The observation of one decided call (bounded; see the module docstring)."""
    reader = _Reader()
    keys: list[str] = []
    for key, value in arguments.items():
        keys.append(str(key))
        reader.value(str(key), value, 1)
    keys.sort()
    return Observation(
        agent_id,
        session_id,
        tool,
        f"{tool}({','.join(keys)})",
        verdict,
        at,
        findings,
        tuple(dict.fromkeys(reader.dirs)) if reader.dirs else (),
        tuple(dict.fromkeys(d for d in reader.domains if d)) if reader.domains else (),
        tuple(dict.fromkeys(reader.recipients)) if reader.recipients else (),
        reader.truncated,
    )
