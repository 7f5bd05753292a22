"""SQL files: numbered migrations and the named queries (loaded once by sql.queries)."""
