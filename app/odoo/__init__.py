"""The Odoo side: the JSON-RPC client (more of the bridge lives here as it is built)."""
