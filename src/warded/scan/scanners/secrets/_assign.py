"""The assignment syntax a keyword-anchored credential pattern shares: an optional closing quote or bracket
after the name, then ``=``, ``:``, ``:=`` or ``=>`` and an optional opening quote."""

from __future__ import annotations

#: Between a key name and its value: ``"name": "``, ``name = '``, ``name := ``, ``name => ``.
ASSIGN = r"[\"'\]]?[ \t]*(?::=|=>|=|:)[ \t]*[\"'`]?"
#: After a token: the end of the text or a character that cannot continue it.
AFTER_VALUE = r"(?:[^A-Za-z0-9_\-]|$)"
