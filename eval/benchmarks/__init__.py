"""Benchmarks that print the figures the README reports (`ipai-rag bench ...`)."""
