"""The MCP server's errors, and how any thresher error becomes a tool error an agent can act on.

An agent reads a failed tool call's text and decides what to do next, so the text says what was
wrong, Harvest's own words when Harvest refused (a 422's message, a 403's missing role), and how
to fix it. Never a stack trace: anything unexpected reaches the agent as the SDK's bare
"Error executing tool" while the server logs the traceback.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from thresher._errors import ThresherError

__all__ = [
    "McpError",
    "PlanNotFoundError",
    "ReadOnlyError",
    "as_tool_error",
]


class McpError(ThresherError):
    """A request to the MCP server that cannot be carried out as asked."""


class PlanNotFoundError(McpError):
    """No live plan has this confirmation id (never made, applied already, or expired)."""


class ReadOnlyError(McpError):
    """A write asked of a read-only server or token."""


def as_tool_error(exc: Exception) -> ToolError:
    """``exc`` (a :class:`ThresherError` or a pydantic ``ValidationError``) as one message with
    the reason and the fix."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
        )
        return ToolError(f"invalid arguments: {problems}. Fix: correct them and call the tool again.")
    text = str(exc).rstrip(".")
    said = getattr(exc, "api_message", None)
    status = getattr(exc, "status_code", None)
    if said and said not in text:
        text += f" (Harvest said: {said})"
    if status is not None:
        text = f"Harvest refused: {text}" if str(status) in text else f"Harvest refused ({status}): {text}"
    hint = getattr(exc, "hint", None)
    return ToolError(f"{text}." + (f" Fix: {hint}" if hint else ""))
