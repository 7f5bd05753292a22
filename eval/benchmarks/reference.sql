-- The Supabase documentation's reference hybrid_search (RRF of websearch full text and semantic
-- search), adapted only in table names to this schema, for the search benchmark. Not a migration.
-- Its table has a stored tsvector column; rag.chunks has none since migration 0018, so the benchmark's
-- scratch database gets the one 0001 had.
ALTER TABLE rag.chunks ADD COLUMN IF NOT EXISTS fts tsvector
    GENERATED ALWAYS AS (to_tsvector(language, heading || E'\n' || content)) STORED;
CREATE INDEX IF NOT EXISTS bench_chunks_fts ON rag.chunks USING gin (fts);

CREATE OR REPLACE FUNCTION public.reference_hybrid_search(
    query_text text, query_embedding vector(384), match_count int,
    full_text_weight float = 1, semantic_weight float = 1, rrf_k int = 50)
RETURNS TABLE (id bigint) LANGUAGE sql AS $$
WITH full_text AS (
    SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.fts, websearch_to_tsquery('english', query_text)) DESC) AS rank_ix
      FROM rag.chunks AS c
     WHERE c.fts @@ websearch_to_tsquery('english', query_text)
     ORDER BY rank_ix
     LIMIT least(match_count, 30) * 2
), semantic AS (
    SELECT e.chunk_id AS id, row_number() OVER (ORDER BY e.embedding::vector(384) <#> query_embedding) AS rank_ix
      FROM rag.chunk_embeddings AS e
     ORDER BY rank_ix
     LIMIT least(match_count, 30) * 2
)
SELECT coalesce(full_text.id, semantic.id)
  FROM full_text FULL OUTER JOIN semantic ON full_text.id = semantic.id
 ORDER BY coalesce(1.0 / (rrf_k + full_text.rank_ix), 0.0) * full_text_weight
        + coalesce(1.0 / (rrf_k + semantic.rank_ix), 0.0) * semantic_weight DESC
 LIMIT least(match_count, 30)
$$;
