"""Search over the knowledge base (POST /v1/search)."""
