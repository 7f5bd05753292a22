"""Knowledge-base documents: create, list, read, update, delete, reindex, export."""
from app.kb.controllers import KnowledgeBaseController

__all__ = ["KnowledgeBaseController"]
