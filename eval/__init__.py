"""The evaluation harness: retrieval metrics, ablations, tuning, comparisons and reports."""
