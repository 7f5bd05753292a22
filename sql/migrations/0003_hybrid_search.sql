-- Hybrid retrieval in one round trip: vector (HNSW), BM25 from postings, trigram; fused by RRF or
-- weighted normalised scores. Versioned: hybrid_search_v1 sits behind the stable rag.hybrid_search.
--
-- match_threshold: the minimum cosine similarity a chunk needs to enter through the vector leg
-- (0 = no floor). It never filters the lexical or trigram legs.
CREATE TYPE rag.search_hit AS (
    chunk_id       bigint,
    document_id    bigint,
    external_id    text,
    title          text,
    source         text,
    section_path   text,
    content        text,
    char_start     integer,
    char_end       integer,
    version        integer,
    snippet        text,
    score          double precision,
    vector_rank    integer,
    vector_score   double precision,
    lexical_rank   integer,
    lexical_score  double precision,
    trigram_rank   integer,
    trigram_score  double precision
);

CREATE FUNCTION rag.hybrid_search_v1(
    query_embedding      vector,
    query_text           text,
    match_threshold      double precision DEFAULT 0,
    match_count          integer DEFAULT 10,
    p_tenant_id          text DEFAULT 'default',
    p_model              text DEFAULT NULL,
    w_vector             double precision DEFAULT 1,
    w_lexical            double precision DEFAULT 1,
    w_trigram            double precision DEFAULT 0,
    p_fusion             text DEFAULT 'rrf',
    rrf_k                double precision DEFAULT 60,
    p_offset             integer DEFAULT 0,
    p_sources            text[] DEFAULT NULL,
    p_languages          text[] DEFAULT NULL,
    p_document_ids       bigint[] DEFAULT NULL,
    p_metadata           jsonb DEFAULT NULL,
    p_updated_from       timestamptz DEFAULT NULL,
    p_updated_to         timestamptz DEFAULT NULL,
    p_collapse           boolean DEFAULT false,
    p_candidates         integer DEFAULT 100,
    p_postings_depth     integer DEFAULT 1000,
    p_trigram_threshold  double precision DEFAULT 0.3,
    p_k1                 double precision DEFAULT 1.2,
    p_b                  double precision DEFAULT 0.75,
    p_snippets           boolean DEFAULT true,
    p_ef_search          integer DEFAULT 100
)
RETURNS SETOF rag.search_hit
LANGUAGE plpgsql STABLE
SET hnsw.ef_search = 100
SET hnsw.iterative_scan = 'relaxed_order'
SET pg_trgm.similarity_threshold = 0.3
-- Every leg is an index walk (HNSW, postings, trigram GIN). On small or freshly loaded tables the
-- planner would otherwise pick sequential scans that compute a distance or similarity per row.
SET enable_seqscan = off
AS $fn$
DECLARE
    v_model   text;
    v_dims    integer;
    v_depth   integer;
    v_joined  boolean;
    v_filter  text := '';
    v_join    text := '';
    v_vec     text;
    v_lex     text;
    v_tri     text;
    v_sql     text;
BEGIN
    IF match_count IS NULL OR match_count < 1 THEN
        RAISE EXCEPTION 'match_count must be at least 1, got %', match_count USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_offset IS NULL OR p_offset < 0 THEN
        RAISE EXCEPTION 'offset must be 0 or more, got %', p_offset USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_fusion NOT IN ('rrf', 'weighted') THEN
        RAISE EXCEPTION 'fusion must be rrf or weighted, got %', p_fusion USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF least(w_vector, w_lexical, w_trigram) < 0 OR rrf_k <= 0 THEN
        RAISE EXCEPTION 'weights must be >= 0 and rrf_k > 0' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_depth := greatest(p_candidates, p_offset + match_count) * CASE WHEN p_collapse THEN 2 ELSE 1 END;
    PERFORM set_config('hnsw.ef_search', greatest(p_ef_search, least(v_depth, 1000))::text, true);
    -- The trigram operator % reads its threshold from this setting.
    PERFORM set_config('pg_trgm.similarity_threshold', p_trigram_threshold::text, true);

    -- Filters, as SQL text over parameters ($5..$10); never values spliced into the text.
    IF p_sources IS NOT NULL THEN v_filter := v_filter || ' AND d.source = ANY($5)'; END IF;
    IF p_languages IS NOT NULL THEN v_filter := v_filter || ' AND d.language::text = ANY($6)'; END IF;
    IF p_document_ids IS NOT NULL THEN v_filter := v_filter || ' AND d.id = ANY($7)'; END IF;
    IF p_metadata IS NOT NULL THEN v_filter := v_filter || ' AND d.metadata @> $8'; END IF;
    IF p_updated_from IS NOT NULL THEN v_filter := v_filter || ' AND d.updated_at >= $9'; END IF;
    IF p_updated_to IS NOT NULL THEN v_filter := v_filter || ' AND d.updated_at < $10'; END IF;
    v_joined := v_filter <> '';

    -- vector leg
    IF w_vector > 0 AND query_embedding IS NOT NULL THEN
        SELECT m.name, m.dimensions INTO v_model, v_dims FROM rag.embedding_models AS m
         WHERE (p_model IS NULL AND m.active) OR m.name = p_model;
        IF v_model IS NULL THEN
            RAISE EXCEPTION 'no embedding model %', coalesce(p_model, '(active)') USING ERRCODE = 'undefined_object';
        END IF;
        IF vector_dims(query_embedding) <> v_dims THEN
            RAISE EXCEPTION 'query embedding has % dimensions; model % expects %', vector_dims(query_embedding), v_model, v_dims
                USING ERRCODE = 'data_exception';
        END IF;
        v_vec := format($q$
            SELECT e.chunk_id, 1 - (e.embedding::vector(%1$s) <=> $1::vector(%1$s)) AS score
              FROM rag.chunk_embeddings AS e %3$s
             WHERE e.model = %2$L AND e.tenant_id = $3 %4$s
             ORDER BY e.embedding::vector(%1$s) <=> $1::vector(%1$s)
             LIMIT $4$q$,
            v_dims, v_model,
            CASE WHEN v_joined THEN 'JOIN rag.chunks AS c ON c.id = e.chunk_id JOIN rag.documents AS d ON d.id = c.document_id' ELSE '' END,
            v_filter);
    ELSE
        v_vec := 'SELECT NULL::bigint AS chunk_id, NULL::float8 AS score WHERE false';
    END IF;

    v_join := CASE WHEN v_joined THEN 'JOIN rag.chunks AS c ON c.id = p.chunk_id JOIN rag.documents AS d ON d.id = c.document_id' ELSE '' END;

    -- lexical leg: BM25 over the postings, read in impact order, scored exactly
    IF w_lexical > 0 THEN
        v_lex := format($q$
            SELECT p.chunk_id,
                   sum(ln(1 + (q.n - t.df + 0.5) / (t.df + 0.5))
                       * p.tf * ($13 + 1) / (p.tf + $13 * (1 - $14 + $14 * p.doc_len / q.avgdl))) AS score
              FROM qterms AS q
              JOIN rag.term_stats AS t ON t.tenant_id = $3 AND t.language = q.language AND t.lexeme = q.lexeme
             CROSS JOIN LATERAL (
                   SELECT p.chunk_id, p.tf, p.doc_len FROM rag.postings AS p %1$s
                    WHERE p.term_id = t.id %2$s
                    ORDER BY p.impact DESC LIMIT $11) AS p
             GROUP BY p.chunk_id
             ORDER BY score DESC, p.chunk_id
             LIMIT $4$q$, v_join, v_filter);
    ELSE
        v_lex := 'SELECT NULL::bigint AS chunk_id, NULL::float8 AS score WHERE false';
    END IF;

    -- trigram leg: identifier-like or unknown query tokens (codes, typos) against the vocabulary of
    -- indexed terms, a short text per term; it holds the words of titles and section paths too, since
    -- the heading is indexed with each chunk. Words the lexical leg knows exactly are left to it.
    IF w_trigram > 0 THEN
        v_tri := format($q$
            SELECT m.chunk_id, sum(m.best) AS score FROM (
                SELECT x.chunk_id, x.token, max(x.sim) AS best FROM (
                    SELECT v.token, v.sim, p.chunk_id
                      FROM (SELECT q.lexeme AS token, vv.id AS term_id, vv.sim
                              FROM qterms AS q
                             CROSS JOIN LATERAL (
                                   SELECT t.id, similarity(t.lexeme, q.lexeme) AS sim
                                     FROM rag.term_stats AS t
                                    WHERE t.lexeme %% q.lexeme AND t.tenant_id = $3 AND t.language = q.language
                                    ORDER BY sim DESC, t.lexeme LIMIT 5) AS vv
                             WHERE length(q.lexeme) >= 3 AND q.fuzzy) AS v
                     CROSS JOIN LATERAL (
                           SELECT p.chunk_id FROM rag.postings AS p %1$s
                            WHERE p.term_id = v.term_id %2$s
                            ORDER BY p.impact DESC LIMIT $4) AS p
                ) AS x GROUP BY x.chunk_id, x.token
            ) AS m
            GROUP BY m.chunk_id
            ORDER BY score DESC, m.chunk_id
            LIMIT $4$q$,
            v_join, v_filter);
    ELSE
        v_tri := 'SELECT NULL::bigint AS chunk_id, NULL::float8 AS score WHERE false';
    END IF;

    v_sql := format($q$
        WITH qterms AS MATERIALIZED (
            SELECT s.language, u.lexeme, s.chunk_count::float8 AS n,
                   s.total_len::float8 / greatest(s.chunk_count, 1) AS avgdl,
                   -- the trigram leg's tokens: identifier-like, or not an indexed term (a typo)
                   (u.lexeme ~ '[0-9./_-]' OR NOT EXISTS (
                        SELECT 1 FROM rag.term_stats AS t0
                         WHERE t0.tenant_id = $3 AND t0.language = s.language AND t0.lexeme = u.lexeme)) AS fuzzy
              FROM rag.corpus_stats AS s
             CROSS JOIN LATERAL unnest(to_tsvector(s.language, $2)) AS u
             WHERE s.tenant_id = $3 AND ($6::text[] IS NULL OR s.language::text = ANY($6))
        ),
        vec AS MATERIALIZED (%1$s),
        lex AS MATERIALIZED (%2$s),
        tri AS MATERIALIZED (%3$s),
        legs AS (
            SELECT 'v' AS leg, r.chunk_id, r.score,
                   row_number() OVER (ORDER BY r.score DESC, r.chunk_id) AS rank,
                   min(r.score) OVER () AS lo, max(r.score) OVER () AS hi
              FROM vec AS r WHERE r.score >= $15
            UNION ALL
            SELECT 'l', r.chunk_id, r.score, row_number() OVER (ORDER BY r.score DESC, r.chunk_id),
                   min(r.score) OVER (), max(r.score) OVER () FROM lex AS r
            UNION ALL
            SELECT 't', r.chunk_id, r.score, row_number() OVER (ORDER BY r.score DESC, r.chunk_id),
                   min(r.score) OVER (), max(r.score) OVER () FROM tri AS r
        ),
        fused AS (
            SELECT l.chunk_id,
                   sum(CASE l.leg WHEN 'v' THEN $17 WHEN 'l' THEN $18 ELSE $19 END
                       * CASE WHEN $22 = 'rrf' THEN 1.0 / ($16 + l.rank)
                              WHEN l.hi > l.lo THEN (l.score - l.lo) / (l.hi - l.lo) ELSE 1.0 END) AS score,
                   max(l.rank) FILTER (WHERE l.leg = 'v')::int AS vector_rank,
                   max(l.score) FILTER (WHERE l.leg = 'v') AS vector_score,
                   max(l.rank) FILTER (WHERE l.leg = 'l')::int AS lexical_rank,
                   max(l.score) FILTER (WHERE l.leg = 'l') AS lexical_score,
                   max(l.rank) FILTER (WHERE l.leg = 't')::int AS trigram_rank,
                   max(l.score) FILTER (WHERE l.leg = 't') AS trigram_score
              FROM legs AS l GROUP BY l.chunk_id
        ),
        ranked AS (
            SELECT f.*, c.document_id AS doc_id,
                   row_number() OVER (PARTITION BY c.document_id ORDER BY f.score DESC, f.chunk_id) AS doc_rank
              FROM fused AS f JOIN rag.chunks AS c ON c.id = f.chunk_id
        ),
        page AS (
            SELECT r.* FROM ranked AS r
             WHERE NOT $23 OR r.doc_rank = 1
             ORDER BY r.score DESC, r.chunk_id
            OFFSET $20 LIMIT $21
        )
        SELECT pg.chunk_id, pg.doc_id, d.external_id, d.title, d.source, c.section_path, c.content,
               c.char_start, c.char_end, d.version,
               CASE WHEN $24 THEN ts_headline(c.language, c.content,
                        replace(plainto_tsquery(c.language, $2)::text, ''' & ''', ''' | ''')::tsquery,
                        'MaxFragments=2, MaxWords=30, MinWords=8, StartSel=<mark>, StopSel=</mark>')
               END,
               pg.score::float8, pg.vector_rank, pg.vector_score::float8, pg.lexical_rank,
               pg.lexical_score::float8, pg.trigram_rank, pg.trigram_score::float8
          FROM page AS pg
          JOIN rag.chunks AS c ON c.id = pg.chunk_id
          JOIN rag.documents AS d ON d.id = pg.doc_id
         ORDER BY pg.score DESC, pg.chunk_id
    $q$, v_vec, v_lex, v_tri);

    RETURN QUERY EXECUTE v_sql USING
        query_embedding, query_text, p_tenant_id, v_depth,                      -- $1..$4
        p_sources, p_languages, p_document_ids, p_metadata,                      -- $5..$8
        p_updated_from, p_updated_to, p_postings_depth, p_trigram_threshold,     -- $9..$12
        p_k1, p_b, match_threshold, rrf_k,                                       -- $13..$16
        w_vector, w_lexical, w_trigram, p_offset, match_count, p_fusion,         -- $17..$22
        p_collapse, p_snippets;                                                  -- $23..$24
END
$fn$;

-- The stable name callers use; a later version replaces this body, v1 stays for comparison.
CREATE FUNCTION rag.hybrid_search(
    query_embedding vector, query_text text, match_threshold double precision DEFAULT 0,
    match_count integer DEFAULT 10, p_tenant_id text DEFAULT 'default', p_model text DEFAULT NULL,
    w_vector double precision DEFAULT 1, w_lexical double precision DEFAULT 1,
    w_trigram double precision DEFAULT 0, p_fusion text DEFAULT 'rrf', rrf_k double precision DEFAULT 60,
    p_offset integer DEFAULT 0, p_sources text[] DEFAULT NULL, p_languages text[] DEFAULT NULL,
    p_document_ids bigint[] DEFAULT NULL, p_metadata jsonb DEFAULT NULL,
    p_updated_from timestamptz DEFAULT NULL, p_updated_to timestamptz DEFAULT NULL,
    p_collapse boolean DEFAULT false, p_candidates integer DEFAULT 100,
    p_postings_depth integer DEFAULT 1000, p_trigram_threshold double precision DEFAULT 0.3,
    p_k1 double precision DEFAULT 1.2, p_b double precision DEFAULT 0.75,
    p_snippets boolean DEFAULT true, p_ef_search integer DEFAULT 100)
RETURNS SETOF rag.search_hit LANGUAGE sql STABLE AS $$
    SELECT * FROM rag.hybrid_search_v1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                       $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
$$;
