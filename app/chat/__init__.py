"""Multi-turn chat sessions and the OpenAI-compatible chat completions facade."""
