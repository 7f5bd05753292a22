"""The writers' console (a static page over the API)."""
