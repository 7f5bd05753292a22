"""The MCP gateway: the knowledge base, the assistant and the catalog as Model Context Protocol tools."""
from app.mcp.gateway import Gateway
from app.mcp.http import McpEndpoint

__all__ = ["Gateway", "McpEndpoint"]
