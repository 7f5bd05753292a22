"""Hybrid retrieval: the HybridRetriever and its typed hits."""
from retrieval.retriever import Filters, Hit, HybridRetriever, SearchParams

__all__ = ["Filters", "Hit", "HybridRetriever", "SearchParams"]
