"""``warded redteam``: attacks generated from the user's own policy, run against the whole gateway.

A run reads the compiled policy, builds one *plan* per constrained argument and attack family
(``families/``), draws cases from Hypothesis strategies, sends each to a target (``targets.py``: the
gateway in-process on a sandboxed copy of the policy, or a running decision API) and asks an *oracle*
(``oracles.py``), written independently of the gateway's own checks, whether the case breaks the intent of
the constraint. A case the oracle calls an attack and the gateway ALLOWs is a bypass; Hypothesis shrinks
it to its smallest form. Reports (``reports/``) and the CI gate (``gate.py``) read the run's result.

The package root imports nothing, so ``warded --help`` (which reads ``options.py``) stays fast.
"""
