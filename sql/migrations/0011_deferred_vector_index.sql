-- A bulk load into a model that has no vectors builds the model's HNSW index once, after the load,
-- instead of inserting every vector into the graph (pgvector's advice for loading; measured here, the
-- graph insertion costs more than everything else ingestion does for a chunk). The load holds a lease
-- that every stored batch extends and its end releases (a crashed load's lease just runs out). The
-- index is built, in one pass, once the lease is over and no embedding job for the model is waiting
-- or running. Meanwhile the vector leg scans the model's vectors exactly: slower, never wrong.
ALTER TABLE rag.embedding_models
    ADD COLUMN index_deferred boolean NOT NULL DEFAULT false,
    ADD COLUMN index_load_until timestamptz;

-- Called by a load before each batch: defers the model's index if the model has no vectors in any
-- tenant, and extends the load's lease while it is deferred. True while the index is deferred.
CREATE FUNCTION rag.defer_model_index_v1(p_model text, p_lease_seconds double precision) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_deferred boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.model_index'), hashtext(p_model));
    SELECT m.index_deferred INTO v_deferred FROM rag.embedding_models AS m WHERE m.name = p_model;
    IF v_deferred IS NULL THEN
        RETURN false;
    END IF;
    IF NOT v_deferred THEN
        IF EXISTS (SELECT FROM rag.chunk_embeddings AS e WHERE e.model = p_model) THEN
            RETURN false;
        END IF;
        EXECUTE format('DROP INDEX IF EXISTS rag.%I', 'chunk_embeddings_hnsw_' || substr(md5(p_model), 1, 12));
    END IF;
    UPDATE rag.embedding_models
       SET index_deferred = true,
           index_load_until = greatest(index_load_until, now() + make_interval(secs => p_lease_seconds))
     WHERE name = p_model;
    RETURN true;
END
$$;

-- Builds a deferred index once its load is over and no embedding job for the model is waiting or
-- running (one waiting for a retry counts, a dead-lettered one does not). p_release ends the calling
-- load's lease first. A caller that finds the build (or a deferral) under way returns at once instead
-- of waiting for it. True when it built the index.
CREATE FUNCTION rag.build_model_index_v1(p_model text, p_release boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    v_model rag.embedding_models;
BEGIN
    IF p_release THEN
        UPDATE rag.embedding_models SET index_load_until = now() WHERE name = p_model AND index_deferred;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('rag.model_index'), hashtext(p_model)) THEN
        RETURN false;
    END IF;
    SELECT * INTO v_model FROM rag.embedding_models AS m WHERE m.name = p_model;
    IF NOT coalesce(v_model.index_deferred, false) OR v_model.index_load_until > now() OR EXISTS (
           SELECT FROM rag.jobs AS j
            WHERE j.queue = 'embed' AND j.status IN ('pending', 'running') AND j.payload ->> 'model' = p_model) THEN
        RETURN false;
    END IF;
    PERFORM rag.register_embedding_model(v_model.name, v_model.provider, v_model.dimensions, false);
    UPDATE rag.embedding_models SET index_deferred = false, index_load_until = NULL WHERE name = p_model;
    RETURN true;
END
$$;

SELECT rag.pin_search_path_v1('rag.defer_model_index_v1(text, double precision)');
SELECT rag.pin_search_path_v1('rag.build_model_index_v1(text, boolean)');
REVOKE ALL ON FUNCTION rag.defer_model_index_v1(text, double precision), rag.build_model_index_v1(text, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.defer_model_index_v1(text, double precision), rag.build_model_index_v1(text, boolean)
    TO ipai_app;
