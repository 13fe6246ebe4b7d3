"""What the monitor does not read is never silence: arguments past its reading bound are a signal of their
own (``unread``), a path is read as a path however it is padded, and the keys of nested objects are read."""

from __future__ import annotations

import random

from warded.monitor.detector import SIGNALS, AgentModel
from warded.monitor.signals import MAX_DEPTH, MAX_TEXTS, read_call


def _benign(rng: random.Random) -> tuple[str, dict[str, object], str]:
    tool = rng.choice(["read_file", "list_dir", "write_file"])
    return tool, {"path": f"/home/dev/proj/{rng.choice(['src', 'tests'])}/f{rng.randint(1, 50)}.py"}, "allow"


def _warm(model: AgentModel, rng: random.Random) -> None:
    for i in range(600):
        assert model.observe(read_call("coder-1", "s", *_benign(rng), float(i) * 60)) is None
    assert not model.learning


def test_padding_past_the_bound_is_a_signal_and_is_never_learnt() -> None:
    rng = random.Random(5)
    model = AgentModel("coder-1", 400, 20, 1e-7)
    _warm(model, rng)
    found = None
    for n in range(20):
        # Allowed calls whose path lies past the bound: before, the monitor saw nothing new after the first.
        args = {"pad": [f"w{i}" for i in range(MAX_TEXTS + 5)], "path": f"/etc/secret{n}/x"}
        obs = read_call("coder-1", "s", "write_file", args, "allow", 40000.0 + n * 60)
        assert obs.truncated and obs.dirs == ()
        found = model.observe(obs) or found
    assert found is not None and "unread" in found.signals
    assert "more arguments than the monitor reads" in found.message
    assert "(past the reading bound)" not in model.known["dirs"]


def test_too_deep_arguments_are_unread_too() -> None:
    deep: object = "/etc/shadow"
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    obs = read_call("a", "s", "t", {"x": deep}, "allow", 1.0)
    assert obs.truncated and obs.dirs == ()


def test_a_path_is_read_as_a_path_however_it_is_padded() -> None:
    cases = {
        "/etc/my secrets/id_rsa": "/etc/my secrets",
        "/root/" + "a" * 3000 + "/id_rsa": "/root/" + "a" * 3000,
        "~/.ssh/keys and more/id": "~/.ssh/keys and more",
        "C:\\Users\\admin\\My Documents\\x.txt": "c:/Users/admin/My Documents",
        "../../etc/pass wd": "./../../etc",
    }
    for text, directory in cases.items():
        assert read_call("a", "s", "t", {"query": text}, "allow", 1.0).dirs == (directory,), text
    assert read_call("a", "s", "t", {"url": "file:///etc/ssh/keys/id"}, "allow", 1.0).dirs == ("/etc/ssh/keys",)
    assert read_call("a", "s", "t", {"url": "FILE://host/root/x"}, "allow", 1.0).dirs == ("/root",)
    prose = read_call("a", "s", "t", {"body": "see https://evil.example/x and /etc later"}, "allow", 1.0)
    assert prose.dirs == () and prose.domains == ("evil.example",)


def test_keys_of_nested_objects_are_read() -> None:
    obs = read_call("a", "s", "t", {"files": {"/etc/shadow": "r", "/root/.ssh/id": "w"}}, "allow", 1.0)
    assert set(obs.dirs) == {"/etc", "/root/.ssh"}
    assert read_call("a", "s", "t", {"path": "/srv/app/x"}, "allow", 1.0).dirs == ("/srv/app",)


def test_a_model_stored_before_the_unread_signal_loads_with_its_prior() -> None:
    model = AgentModel("coder-1", 400, 20, 1e-7)
    _warm(model, random.Random(6))
    stored = model.to_json()
    stored["rates"] = stored["rates"][: len(SIGNALS) - 1]
    stored["late_flags"] = stored["late_flags"][: len(SIGNALS) - 1]
    again = AgentModel.from_json(stored, window=20, alpha=1e-7, baseline=400)
    assert again.rates is not None and len(again.rates) == len(SIGNALS)
    assert again.rates[-1] == 0.5 / (stored["late_calls"] + 1)
