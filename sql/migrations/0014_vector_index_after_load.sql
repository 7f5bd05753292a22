-- A load's end releases its model's deferred vector index (0011) instead of building it: an embedding
-- worker builds it once the model's embedding jobs are done (after its last batch, or when idle), so a
-- load returns once its chunks are stored, BM25-indexed and queued, and `ingest --wait` once they are
-- embedded; the vector leg scans the model's vectors exactly until the build. The build is the largest
-- single cost of a first load (2.5 CPU-s of the ingest benchmark's 9,439 vectors, two cores busy for 1.3 s).
CREATE FUNCTION rag.release_model_index_v1(p_model text) RETURNS void
LANGUAGE sql SECURITY DEFINER AS $$
    UPDATE rag.embedding_models SET index_load_until = now() WHERE name = p_model AND index_deferred
$$;
SELECT rag.pin_search_path_v1('rag.release_model_index_v1(text)');
REVOKE ALL ON FUNCTION rag.release_model_index_v1(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.release_model_index_v1(text) TO ipai_app;
