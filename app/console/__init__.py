"""The writers' console (a static page over the API)."""
from app.console.controllers import console_routes

__all__ = ["console_routes"]
