"""Knowledge-base documents: create, list, read, update, delete, reindex, export."""
