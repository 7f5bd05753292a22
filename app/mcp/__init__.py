"""The MCP gateway: the knowledge base, the assistant and the catalog as Model Context Protocol tools."""
