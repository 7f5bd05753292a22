-- The lexical and trigram legs of a hybrid search are static statements, planned once per connection (a generic
-- plan, as the function's plan_cache_mode asks), instead of being planned again on every call by EXECUTE: about
-- 0.3 ms of a search's 4 ms in the database. A leg's filter check is rag.passes_filters_v1 (inlined). The vector
-- leg stays dynamic: its model's dimension and partial index must be literals. Results are unchanged.
CREATE FUNCTION rag.passes_filters_v1(p_chunk_id bigint, p_sources text[], p_languages text[], p_document_ids bigint[],
                                   p_metadata jsonb, p_updated_from timestamptz, p_updated_to timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM rag.chunks AS c JOIN rag.documents AS d ON d.id = c.document_id
                    WHERE c.id = p_chunk_id
                      AND (p_sources IS NULL OR d.source = ANY(p_sources))
                      AND (p_languages IS NULL OR d.language::text = ANY(p_languages))
                      AND (p_document_ids IS NULL OR d.id = ANY(p_document_ids))
                      AND (p_metadata IS NULL OR d.metadata @> p_metadata)
                      AND (p_updated_from IS NULL OR d.updated_at >= p_updated_from)
                      AND (p_updated_to IS NULL OR d.updated_at < p_updated_to))
$$;
REVOKE ALL ON FUNCTION rag.passes_filters_v1(bigint, text[], text[], bigint[], jsonb, timestamptz, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rag.hybrid_search_v2(
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
SET enable_seqscan = off
-- The static statements below: custom plans would be made afresh on every call.
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_model     text;
    v_dims      integer;
    v_depth     integer;
    v_filtered  boolean := num_nonnulls(p_sources, p_languages, p_document_ids, p_metadata, p_updated_from,
                                        p_updated_to) > 0;
    -- the query's terms the tenant's vocabulary knows, with their BM25 weights
    q_ids       bigint[];
    q_w         float8[];
    q_k         float8[];
    q_kb        float8[];
    -- the trigram leg's tokens (code-like, or unknown to the vocabulary) and their nearest terms
    f_lang      regconfig[];
    f_tok       text[];
    n_tok       text[];
    n_ids       bigint[];
    n_sim       float8[];
    -- each leg's list, best first
    v_ids       bigint[];
    v_scores    float8[];
    l_ids       bigint[];
    l_scores    float8[];
    t_ids       bigint[];
    t_scores    float8[];
    -- the fused list, best first, and the positions of the page in it
    x_ids       bigint[];
    x_scores    float8[];
    x_vr        integer[];
    x_vs        float8[];
    x_lr        integer[];
    x_ls        float8[];
    x_tr        integer[];
    x_ts        float8[];
    x_page      integer[];
    -- each stage's time (ms), published with set_config for the caller to read (rag.search_stages)
    g_mark      timestamptz := clock_timestamp();
    g_ms        float8[] := ARRAY[0, 0, 0, 0, 0];
    -- the vector leg's filter check of its candidate e.chunk_id (parameters $4..$9), empty without filters
    v_passes    text := '';
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
    PERFORM set_config('pg_trgm.similarity_threshold', p_trigram_threshold::text, true);

    g_mark := clock_timestamp();
    -- The query's terms, once per language of the tenant's corpus. A token is fuzzy (goes to the
    -- trigram leg) when the vocabulary lacks it (a typo) or it looks like a code: digits, dots,
    -- slashes, underscores. Hyphenated words are not: their parts are searched exactly (and leaving
    -- them out scored higher on SciFact's train split: 0.7461 against 0.7418 nDCG@10).
    IF w_lexical > 0 OR w_trigram > 0 THEN
        SELECT array_agg(t.id) FILTER (WHERE t.id IS NOT NULL),
               array_agg(ln(1 + (s.chunk_count - t.df + 0.5::float8) / (t.df + 0.5::float8)) * (p_k1 + 1))
                   FILTER (WHERE t.id IS NOT NULL),
               array_agg(p_k1 * (1 - p_b)) FILTER (WHERE t.id IS NOT NULL),
               array_agg(p_k1 * p_b / greatest(s.total_len::float8 / greatest(s.chunk_count, 1), 1e-9))
                   FILTER (WHERE t.id IS NOT NULL),
               array_agg(s.language) FILTER (WHERE (t.id IS NULL OR u.lexeme ~ '[0-9./_]') AND length(u.lexeme) >= 3),
               array_agg(u.lexeme) FILTER (WHERE (t.id IS NULL OR u.lexeme ~ '[0-9./_]') AND length(u.lexeme) >= 3)
          INTO q_ids, q_w, q_k, q_kb, f_lang, f_tok
          FROM rag.corpus_stats AS s
         CROSS JOIN LATERAL unnest(to_tsvector(s.language, query_text)) AS u
          LEFT JOIN rag.term_stats AS t
            ON t.tenant_id = s.tenant_id AND t.language = s.language AND t.lexeme = u.lexeme
         WHERE s.tenant_id = p_tenant_id AND (p_languages IS NULL OR s.language::text = ANY(p_languages));
    END IF;

    -- A long query's work is bounded: the lexical leg reads the postings of its 64 weightiest terms (the
    -- rarest), the trigram leg looks up its first 16 fuzzy tokens.
    IF cardinality(q_ids) > 64 THEN
        SELECT array_agg(x.id ORDER BY x.w DESC, x.id), array_agg(x.w ORDER BY x.w DESC, x.id),
               array_agg(x.k ORDER BY x.w DESC, x.id), array_agg(x.kb ORDER BY x.w DESC, x.id)
          INTO q_ids, q_w, q_k, q_kb
          FROM (SELECT * FROM unnest(q_ids, q_w, q_k, q_kb) AS u(id, w, k, kb) ORDER BY u.w DESC, u.id LIMIT 64) AS x;
    END IF;
    IF cardinality(f_tok) > 16 THEN
        f_lang := f_lang[1:16];
        f_tok := f_tok[1:16];
    END IF;

    IF v_filtered THEN
        v_passes := 'AND rag.passes_filters_v1(e.chunk_id, $4, $5, $6, $7, $8, $9)';
    END IF;

    -- Each leg reads its index in order and, only when there are filters, keeps a candidate if its
    -- document passes them: a selective filter still yields the leg's full depth. The vector leg is
    -- planned per call (EXECUTE): it needs its model's dimension and partial index as literals. The
    -- lexical and trigram legs are static statements: their generic plans (the postings index read in
    -- impact order, per term) are made once per connection.

    g_ms[1] := extract(epoch FROM clock_timestamp() - g_mark) * 1000;
    g_mark := clock_timestamp();
    -- vector leg: cosine over the model's HNSW index; its dimension and partial index are literals
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
        EXECUTE format($q$
            SELECT array_agg(r.chunk_id ORDER BY r.score DESC, r.chunk_id),
                   array_agg(r.score ORDER BY r.score DESC, r.chunk_id)
              FROM (SELECT e.chunk_id, 1 - (e.embedding::vector(%1$s) <=> $1::vector(%1$s)) AS score
                      FROM rag.chunk_embeddings AS e
                     WHERE e.model = %2$L AND e.tenant_id = $2 %3$s
                     ORDER BY e.embedding::vector(%1$s) <=> $1::vector(%1$s)
                     LIMIT $3) AS r
             WHERE r.score >= $10 AND r.score <> 'NaN'::float8$q$,
            v_dims, v_model, v_passes)
        INTO v_ids, v_scores
        USING query_embedding, p_tenant_id, v_depth, p_sources, p_languages, p_document_ids, p_metadata,
              p_updated_from, p_updated_to, match_threshold;
    END IF;

    g_ms[2] := extract(epoch FROM clock_timestamp() - g_mark) * 1000;
    g_mark := clock_timestamp();
    -- lexical leg: BM25 over the postings, each term's postings read in impact order, scored exactly
    IF w_lexical > 0 AND q_ids IS NOT NULL THEN
        SELECT array_agg(r.chunk_id ORDER BY r.score DESC, r.chunk_id), array_agg(r.score ORDER BY r.score DESC, r.chunk_id)
          INTO l_ids, l_scores
          FROM (SELECT p.chunk_id, sum(q.w * p.tf / (p.tf + q.k + q.kb * p.doc_len)) AS score
                  FROM unnest(q_ids, q_w, q_k, q_kb) AS q(id, w, k, kb)
                 CROSS JOIN LATERAL (
                       SELECT p.chunk_id, p.tf, p.doc_len FROM rag.postings AS p
                        WHERE p.term_id = q.id AND (NOT v_filtered OR rag.passes_filters_v1(p.chunk_id, p_sources,
                              p_languages, p_document_ids, p_metadata, p_updated_from, p_updated_to))
                        ORDER BY p.impact DESC LIMIT p_postings_depth) AS p
                 GROUP BY p.chunk_id
                 ORDER BY score DESC, p.chunk_id
                 LIMIT v_depth) AS r;
    END IF;

    g_ms[3] := extract(epoch FROM clock_timestamp() - g_mark) * 1000;
    g_mark := clock_timestamp();
    -- trigram leg: each fuzzy token's nearest terms in the vocabulary (short texts: the words of
    -- chunks, titles and section paths); a chunk scores, per token, the best similarity among them.
    IF w_trigram > 0 AND f_tok IS NOT NULL THEN
        SELECT array_agg(f.tok), array_agg(n.id), array_agg(n.sim) INTO n_tok, n_ids, n_sim
          FROM unnest(f_lang, f_tok) AS f(lang, tok)
         CROSS JOIN LATERAL (
               SELECT t.id, similarity(t.lexeme, f.tok)::float8 AS sim
                 FROM rag.term_stats AS t
                WHERE t.lexeme % f.tok AND t.tenant_id = p_tenant_id AND t.language = f.lang
                ORDER BY sim DESC, t.lexeme LIMIT 5) AS n;
    END IF;
    IF n_ids IS NOT NULL THEN
        SELECT array_agg(r.chunk_id ORDER BY r.score DESC, r.chunk_id), array_agg(r.score ORDER BY r.score DESC, r.chunk_id)
          INTO t_ids, t_scores
          FROM (SELECT m.chunk_id, sum(m.best) AS score
                  FROM (SELECT p.chunk_id, n.tok, max(n.sim) AS best
                          FROM unnest(n_tok, n_ids, n_sim) AS n(tok, id, sim)
                         CROSS JOIN LATERAL (
                               SELECT p.chunk_id FROM rag.postings AS p
                                WHERE p.term_id = n.id AND (NOT v_filtered OR rag.passes_filters_v1(p.chunk_id, p_sources,
                                      p_languages, p_document_ids, p_metadata, p_updated_from, p_updated_to))
                                ORDER BY p.impact DESC LIMIT v_depth) AS p
                         GROUP BY p.chunk_id, n.tok) AS m
                 GROUP BY m.chunk_id
                 ORDER BY score DESC, m.chunk_id
                 LIMIT v_depth) AS r;
    END IF;

    g_ms[4] := extract(epoch FROM clock_timestamp() - g_mark) * 1000;
    g_mark := clock_timestamp();
    -- fusion: reciprocal rank, or scores normalised per leg between its worst and best (lists are sorted)
    SELECT array_agg(f.chunk_id ORDER BY f.score DESC, f.chunk_id), array_agg(f.score ORDER BY f.score DESC, f.chunk_id),
           array_agg(f.vr ORDER BY f.score DESC, f.chunk_id), array_agg(f.vs ORDER BY f.score DESC, f.chunk_id),
           array_agg(f.lr ORDER BY f.score DESC, f.chunk_id), array_agg(f.ls ORDER BY f.score DESC, f.chunk_id),
           array_agg(f.tr ORDER BY f.score DESC, f.chunk_id), array_agg(f.ts ORDER BY f.score DESC, f.chunk_id)
      INTO x_ids, x_scores, x_vr, x_vs, x_lr, x_ls, x_tr, x_ts
      FROM (SELECT l.chunk_id,
                   sum(l.w * CASE WHEN p_fusion = 'rrf' THEN 1.0 / (rrf_k + l.rank)
                                  WHEN l.hi > l.lo THEN (l.score - l.lo) / (l.hi - l.lo) ELSE 1.0 END) AS score,
                   max(l.rank) FILTER (WHERE l.leg = 'v')::int AS vr, max(l.score) FILTER (WHERE l.leg = 'v') AS vs,
                   max(l.rank) FILTER (WHERE l.leg = 'l')::int AS lr, max(l.score) FILTER (WHERE l.leg = 'l') AS ls,
                   max(l.rank) FILTER (WHERE l.leg = 't')::int AS tr, max(l.score) FILTER (WHERE l.leg = 't') AS ts
              FROM (SELECT 'v' AS leg, w_vector AS w, u.chunk_id, u.score, u.rank,
                           v_scores[cardinality(v_scores)] AS lo, v_scores[1] AS hi
                      FROM unnest(v_ids, v_scores) WITH ORDINALITY AS u(chunk_id, score, rank)
                    UNION ALL
                    SELECT 'l', w_lexical, u.chunk_id, u.score, u.rank, l_scores[cardinality(l_scores)], l_scores[1]
                      FROM unnest(l_ids, l_scores) WITH ORDINALITY AS u(chunk_id, score, rank)
                    UNION ALL
                    SELECT 't', w_trigram, u.chunk_id, u.score, u.rank, t_scores[cardinality(t_scores)], t_scores[1]
                      FROM unnest(t_ids, t_scores) WITH ORDINALITY AS u(chunk_id, score, rank)) AS l
             GROUP BY l.chunk_id) AS f;

    -- the page, as positions in the fused list; collapsing keeps each document's best chunk
    IF p_collapse THEN
        SELECT (array_agg(b.i ORDER BY b.i))[p_offset + 1 : p_offset + match_count] INTO x_page
          FROM (SELECT DISTINCT ON (c.document_id) u.i
                  FROM unnest(x_ids) WITH ORDINALITY AS u(id, i) JOIN rag.chunks AS c ON c.id = u.id
                 ORDER BY c.document_id, u.i) AS b;
    ELSE
        x_page := ARRAY(SELECT generate_series(p_offset + 1, least(p_offset + match_count, cardinality(x_ids))));
    END IF;

    g_ms[5] := extract(epoch FROM clock_timestamp() - g_mark) * 1000;
    PERFORM set_config('ipai.search_stages_ms', array_to_string(g_ms, ','), true);

    RETURN QUERY
    SELECT c.id, c.document_id, d.external_id, d.title, d.source, c.section_path, c.content,
           c.char_start, c.char_end, d.version,
           CASE WHEN p_snippets THEN ts_headline(c.language, c.content,
                    replace(plainto_tsquery(c.language, query_text)::text, ''' & ''', ''' | ''')::tsquery,
                    'MaxFragments=2, MaxWords=30, MinWords=8, StartSel=<mark>, StopSel=</mark>')
           END,
           x_scores[pg.i]::float8, x_vr[pg.i], x_vs[pg.i]::float8, x_lr[pg.i], x_ls[pg.i]::float8,
           x_tr[pg.i], x_ts[pg.i]::float8
      FROM unnest(x_page) WITH ORDINALITY AS pg(i, n)
      JOIN rag.chunks AS c ON c.id = x_ids[pg.i]
      JOIN rag.documents AS d ON d.id = c.document_id
     ORDER BY pg.n;
END
$fn$;
