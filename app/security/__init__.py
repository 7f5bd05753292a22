"""Who may see what: API keys and JWTs on every route, scopes, rate limits, the secrets vault."""
