"""Configuration snippets for MCP clients: what ``thresher mcp --print-config`` prints and the
README shows. Each client wants the same command (stdio) or URL (streamable HTTP) in its own
JSON shape."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["client_configs", "render_configs"]


def client_configs(
    *,
    command: str = "thresher",
    connection: str | None = None,
    read_only: bool = False,
    url: str = "http://127.0.0.1:8765/mcp",
) -> dict[str, dict[str, Any]]:
    """Snippets by client: Claude Desktop, Claude Code, Cursor (stdio) and any streamable-HTTP
    client (a bearer token from ``thresher mcp token create``)."""
    args = ["mcp"]
    if connection:
        args += ["--connection", connection]
    if read_only:
        args.append("--read-only")
    stdio = {"command": command, "args": args}
    http = {"type": "http", "url": url, "headers": {"Authorization": "Bearer ${THRESHER_MCP_TOKEN}"}}
    return {
        "claude_desktop": {
            "file": "claude_desktop_config.json (Settings > Developer > Edit Config)",
            "config": {"mcpServers": {"thresher": stdio}},
        },
        "claude_code": {
            "file": ".mcp.json in the project (or: claude mcp add thresher -- "
            + " ".join([command, *args])
            + ")",
            "config": {"mcpServers": {"thresher": {"type": "stdio", **stdio}}},
        },
        "cursor": {
            "file": ".cursor/mcp.json (project) or ~/.cursor/mcp.json (everywhere)",
            "config": {"mcpServers": {"thresher": stdio}},
        },
        "streamable_http": {
            "file": "any client speaking streamable HTTP (serve it with 'thresher mcp --http')",
            "config": {"mcpServers": {"thresher": http}},
        },
    }


def render_configs(configs: dict[str, dict[str, Any]]) -> str:
    """The snippets as text for people: a heading and the JSON of each."""
    parts = []
    for name, item in configs.items():
        parts.append(f"# {name.replace('_', ' ')}: {item['file']}\n{json.dumps(item['config'], indent=2)}")
    return "\n\n".join(parts) + "\n"
