"""Network edges of warded: the decision API, the MCP proxy and the OpenAI-compatible chat proxy."""
