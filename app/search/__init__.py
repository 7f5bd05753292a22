"""Search over the knowledge base (POST /v1/search)."""
from app.search.controllers import SearchController

__all__ = ["SearchController"]
