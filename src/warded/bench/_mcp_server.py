"""The MCP server the proxy benchmark calls: one ``echo`` tool, written with the SDK's FastMCP, on stdio."""

from __future__ import annotations

from mcp.server.fastmcp import FastMCP

server = FastMCP("warded-bench", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    server.run()
