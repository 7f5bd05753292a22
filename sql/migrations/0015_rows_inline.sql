-- Chunk and document rows stay in their heap pages uncompressed up to 8 KB, instead of being compressed
-- with pglz from 2 KB on. A chunk row (its text and its tsvector: 2.2 KB on average in the ingest
-- benchmark) is written once and read by every BM25 pass, re-embedding and snippet; inserting the
-- benchmark's 9,439 chunks took 1.34 s instead of 1.53 s. A document row crosses 2 KB when its vector is
-- written, and that update compressed its text again. Longer values are still compressed and moved out.
-- New rows only; existing ones change when they are rewritten.
ALTER TABLE rag.chunks SET (toast_tuple_target = 8160);
ALTER TABLE rag.documents SET (toast_tuple_target = 8160);
