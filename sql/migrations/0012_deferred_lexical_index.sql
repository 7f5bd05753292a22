-- A bulk load defers BM25 maintenance (postings, term and corpus statistics) the way 0011 defers the
-- vector index: its chunks go to a backlog in the same transaction, and the load indexes the backlog in
-- large set-based passes on another connection while it stores the next batches (the other core), and
-- drains it before it ends. A single insert still indexes in its own statement. A crashed load leaves its
-- backlog behind; an idle worker indexes it. Until then those chunks are absent from the lexical and
-- trigram legs only (as chunks without vectors are from the vector leg), never half-counted.
CREATE TABLE rag.lexical_backlog (
    chunk_id    bigint PRIMARY KEY,
    tenant_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE rag.lexical_backlog ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag.lexical_backlog FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rag.lexical_backlog
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT, DELETE ON rag.lexical_backlog TO ipai_app;

-- The df upserts of later batches update term rows in place: room on each page lets them be HOT
-- updates, which skip the three indexes (the trigram GIN among them).
ALTER TABLE rag.term_stats SET (fillfactor = 70);

-- Postings and statistics for the given chunks (those that still exist), in one statement: the body of
-- the insert trigger of 0001 over chunk ids, with its arithmetic in float8 (0001 passed 0.75 * doc_len
-- through numeric: the same values, slower) and memory to hash and sort a large set without spilling.
CREATE FUNCTION rag.index_chunks_v1(p_ids bigint[]) RETURNS integer
LANGUAGE plpgsql
SET work_mem = '64MB'
AS $$
DECLARE
    v_rows integer;
BEGIN
    -- One writer per tenant at a time keeps the statistics exact and the upserts deadlock-free.
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(t.tenant_id))
       FROM (SELECT DISTINCT tenant_id FROM rag.chunks WHERE id = ANY(p_ids) ORDER BY 1) AS t;

    WITH chunks AS MATERIALIZED (
        SELECT c.id, c.tenant_id, c.language, c.fts FROM rag.chunks AS c WHERE c.id = ANY(p_ids)
    ), terms AS MATERIALIZED (
        SELECT c.id AS chunk_id, c.tenant_id, c.language, u.lexeme,
               coalesce(array_length(u.positions, 1), 1) AS tf,
               sum(coalesce(array_length(u.positions, 1), 1)) OVER (PARTITION BY c.id) AS dl
          FROM chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u
    ), lens AS (
        SELECT c.tenant_id, c.language, count(*) AS n, coalesce(sum(l.dl), 0) AS len
          FROM chunks AS c
          LEFT JOIN (SELECT DISTINCT chunk_id, dl FROM terms) AS l ON l.chunk_id = c.id
         GROUP BY 1, 2
    ), corpus AS (
        INSERT INTO rag.corpus_stats AS s (tenant_id, language, chunk_count, total_len)
        SELECT tenant_id, language, n, len FROM lens
        ON CONFLICT (tenant_id, language) DO UPDATE
           SET chunk_count = s.chunk_count + excluded.chunk_count, total_len = s.total_len + excluded.total_len
        RETURNING s.tenant_id, s.language, s.total_len::float8 / greatest(s.chunk_count, 1) AS avgdl
    ), vocab AS (
        INSERT INTO rag.term_stats AS s (tenant_id, language, lexeme, df)
        SELECT tenant_id, language, lexeme, count(*) FROM terms GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, language, lexeme) DO UPDATE SET df = s.df + excluded.df
        RETURNING s.id, s.tenant_id, s.language, s.lexeme
    )
    INSERT INTO rag.postings (term_id, chunk_id, tenant_id, tf, doc_len, impact)
    SELECT v.id, t.chunk_id, t.tenant_id, t.tf, t.dl,
           (t.tf / (t.tf + 1.2 * (0.25 + 0.75 * t.dl::float8 / greatest(c.avgdl, 1))))::real
      FROM terms AS t
      JOIN vocab AS v ON v.tenant_id = t.tenant_id AND v.language = t.language AND v.lexeme = t.lexeme
      JOIN corpus AS c ON c.tenant_id = t.tenant_id AND c.language = t.language;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;

-- Inserted chunks: indexed by the statement that inserts them, or put in the backlog when the
-- transaction asked for it (set_config('rag.defer_lexical', 'on', true): a bulk load's batches).
CREATE FUNCTION rag.chunks_index_insert_v2() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('rag.defer_lexical', true) = 'on' THEN
        INSERT INTO rag.lexical_backlog (chunk_id, tenant_id) SELECT id, tenant_id FROM new_chunks;
    ELSE
        PERFORM rag.index_chunks_v1(ARRAY(SELECT id FROM new_chunks));
    END IF;
    RETURN NULL;
END
$$;

-- Deleted chunks: as 0001, except that chunks still in the backlog were never counted; they only
-- leave the backlog.
CREATE FUNCTION rag.chunks_index_delete_v2() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_pending bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(t.tenant_id))
       FROM (SELECT DISTINCT tenant_id FROM old_chunks ORDER BY 1) AS t;

    v_pending := ARRAY(SELECT b.chunk_id FROM rag.lexical_backlog AS b JOIN old_chunks AS o ON o.id = b.chunk_id);
    IF cardinality(v_pending) > 0 THEN
        DELETE FROM rag.lexical_backlog WHERE chunk_id = ANY(v_pending);
    END IF;

    DELETE FROM rag.postings WHERE chunk_id IN (SELECT id FROM old_chunks);

    UPDATE rag.corpus_stats AS s
       SET chunk_count = s.chunk_count - d.n, total_len = s.total_len - d.len
      FROM (SELECT tenant_id, language, count(*) AS n, sum(rag.tsvector_length(fts)) AS len
              FROM old_chunks WHERE id <> ALL(v_pending) GROUP BY 1, 2) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language;
    DELETE FROM rag.corpus_stats WHERE chunk_count <= 0;

    UPDATE rag.term_stats AS s SET df = s.df - d.n
      FROM (SELECT c.tenant_id, c.language, u.lexeme, count(*) AS n
              FROM old_chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u
             WHERE c.id <> ALL(v_pending) GROUP BY 1, 2, 3) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language AND s.lexeme = d.lexeme;
    DELETE FROM rag.term_stats AS s
     USING (SELECT DISTINCT c.tenant_id, c.language, u.lexeme
              FROM old_chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u WHERE c.id <> ALL(v_pending)) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language AND s.lexeme = d.lexeme AND s.df <= 0;
    RETURN NULL;
END
$$;

DROP TRIGGER chunks_index_insert ON rag.chunks;
DROP TRIGGER chunks_index_delete ON rag.chunks;
CREATE TRIGGER chunks_index_insert AFTER INSERT ON rag.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_index_insert_v2();
CREATE TRIGGER chunks_index_delete AFTER DELETE ON rag.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_index_delete_v2();
-- 0001's trigger functions have no trigger left.
DROP FUNCTION rag.chunks_index_insert(), rag.chunks_index_delete();

-- Indexes up to p_limit of the current tenant's backlog, oldest first, in one pass; the number of
-- backlog entries taken (0: the backlog is empty). Serialised with every other writer of the tenant's
-- statistics by the lock, so two callers never take the same entries.
CREATE FUNCTION rag.index_backlog_v1(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(rag.current_tenant()));
    v_ids := ARRAY(SELECT chunk_id FROM rag.lexical_backlog ORDER BY chunk_id LIMIT p_limit);
    IF cardinality(v_ids) = 0 THEN
        RETURN 0;
    END IF;
    DELETE FROM rag.lexical_backlog WHERE chunk_id = ANY(v_ids);
    PERFORM rag.index_chunks_v1(v_ids);
    RETURN cardinality(v_ids);
END
$$;

-- Cross-tenant, for an idle worker: the tenants whose backlog holds an entry older than p_age_seconds
-- (a load that ended without draining it).
CREATE FUNCTION rag.stale_lexical_backlog_v1(p_age_seconds double precision) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT DISTINCT tenant_id FROM rag.lexical_backlog
     WHERE created_at < now() - make_interval(secs => p_age_seconds)
$$;
SELECT rag.pin_search_path_v1('rag.stale_lexical_backlog_v1(double precision)');
REVOKE ALL ON FUNCTION rag.stale_lexical_backlog_v1(double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.stale_lexical_backlog_v1(double precision) TO ipai_app;
