"""The assistant: grounded, cited answers from the knowledge base (LLM or extractive)."""
