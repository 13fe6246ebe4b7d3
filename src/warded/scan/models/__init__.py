"""Packaged detector artefacts: ``injection_classifier.npz`` (the model) and ``injection_heldout.jsonl.gz``
(the held-out evaluation split). Both are rebuilt by ``make detector``; see ``DATA.md`` for the sources."""
