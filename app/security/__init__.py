"""Credentials and secrets: API keys, JWT verification, the secrets vault (enforcement comes with RLS)."""
