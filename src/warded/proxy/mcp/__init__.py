"""warded.proxy.mcp."""
