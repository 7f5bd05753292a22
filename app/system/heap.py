"""The serve process's heap, settled before it takes requests: what start-up made (modules, routes, the OpenAPI
document: about 175,000 objects, three times a bare retriever process's) is moved out of the cyclic garbage
collector's reach (gc.freeze), and young collections run every 50,000 allocations instead of 700. Unsettled, the
collector walked those objects again and again under load: 0.17 ms of CPU per search request (about 5% of the
process's), and none settled (15 s of searches from wrk at 32 connections, about 2,400 of them, the collections
timed through gc.callbacks).
Reference counting still frees every object as before; only reference cycles wait longer to be collected."""
from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 50_000
"""Allocations (less deallocations) of container objects between two collections of the youngest generation."""


def settle() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
