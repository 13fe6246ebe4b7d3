"""``warded bench agentdojo``: AgentDojo's suites replayed through the gateway, without an LLM.

Needs the optional extra (``pip install 'warded[agentdojo]'``). See :mod:`warded.bench.agentdojo.replay` for the
method and :mod:`warded.bench.agentdojo.report` for the figures.
Nothing is imported here, so that the CLI can build its parser (:mod:`.options`) without loading AgentDojo.
"""
