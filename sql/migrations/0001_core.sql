-- The knowledge base: documents, chunks, per-model vectors, BM25 statistics.
-- Every table carries tenant_id from day one (default tenant 'default').
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE SCHEMA IF NOT EXISTS rag;

CREATE TABLE rag.embedding_models (
    name        text PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT 'default',
    provider    text NOT NULL,
    dimensions  integer NOT NULL CHECK (dimensions BETWEEN 1 AND 2000),
    active      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- At most one active model: the one queries and new chunks use.
CREATE UNIQUE INDEX embedding_models_one_active ON rag.embedding_models ((true)) WHERE active;

CREATE TABLE rag.documents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL DEFAULT 'default',
    external_id   text NOT NULL,
    title         text NOT NULL DEFAULT '',
    source        text NOT NULL DEFAULT 'api',
    version       integer NOT NULL DEFAULT 1,
    provenance    jsonb NOT NULL DEFAULT '{}'::jsonb,
    language      regconfig NOT NULL DEFAULT 'english',
    content       text NOT NULL,
    content_hash  text NOT NULL,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding     vector,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_natural_key UNIQUE (tenant_id, source, external_id),
    CONSTRAINT documents_content_not_empty CHECK (length(content) > 0)
);
CREATE INDEX documents_tenant_updated ON rag.documents (tenant_id, updated_at, id);
CREATE INDEX documents_metadata ON rag.documents USING gin (metadata jsonb_path_ops);

CREATE TABLE rag.chunks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id    bigint NOT NULL REFERENCES rag.documents (id) ON DELETE CASCADE,
    tenant_id      text NOT NULL DEFAULT 'default',
    ordinal        integer NOT NULL,
    content        text NOT NULL,
    content_hash   text NOT NULL,
    token_count    integer NOT NULL,
    section_path   text NOT NULL DEFAULT '',
    -- "title > section path": indexed and embedded with the chunk, never part of its offsets
    heading        text NOT NULL DEFAULT '',
    char_start     integer NOT NULL,
    char_end       integer NOT NULL,
    language       regconfig NOT NULL DEFAULT 'english',
    fts            tsvector GENERATED ALWAYS AS (to_tsvector(language, heading || E'\n' || content)) STORED,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chunks_span CHECK (char_start >= 0 AND char_end >= char_start)
);
CREATE INDEX chunks_document ON rag.chunks (document_id, ordinal);

-- One row per chunk per embedding model: two models can coexist during a model change.
-- Each model gets its own partial HNSW index on its own dimension (rag.register_embedding_model).
CREATE TABLE rag.chunk_embeddings (
    chunk_id      bigint NOT NULL REFERENCES rag.chunks (id) ON DELETE CASCADE,
    model         text NOT NULL REFERENCES rag.embedding_models (name) ON DELETE CASCADE,
    tenant_id     text NOT NULL DEFAULT 'default',
    content_hash  text NOT NULL,
    embedding     vector NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chunk_id, model)
);

-- BM25 statistics, exact at every insert and delete (maintained by the chunk triggers below).
CREATE TABLE rag.corpus_stats (
    tenant_id    text NOT NULL,
    language     regconfig NOT NULL,
    chunk_count  bigint NOT NULL,
    total_len    bigint NOT NULL,
    PRIMARY KEY (tenant_id, language)
);

CREATE TABLE rag.term_stats (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL,
    language   regconfig NOT NULL,
    lexeme     text NOT NULL,
    df         integer NOT NULL,
    CONSTRAINT term_stats_term UNIQUE (tenant_id, language, lexeme)
);
-- The vocabulary the trigram leg matches query tokens against (typos, identifiers).
CREATE INDEX term_stats_lexeme_trgm ON rag.term_stats USING gin (lexeme gin_trgm_ops);

-- Inverted index: one row per (term, chunk). impact = BM25 tf component at insert time, only for
-- reading postings in impact order; scores are computed exactly from tf, doc_len and the stats.
-- A term row is kept while any posting refers to it (df > 0), so term_id stays valid.
CREATE TABLE rag.postings (
    term_id    bigint NOT NULL,
    chunk_id   bigint NOT NULL,
    tenant_id  text NOT NULL,
    tf         integer NOT NULL,
    doc_len    integer NOT NULL,
    impact     real NOT NULL
);
CREATE INDEX postings_impact ON rag.postings (term_id, impact DESC) INCLUDE (chunk_id, tf, doc_len);
CREATE INDEX postings_chunk ON rag.postings (chunk_id);

-- Total token count of a tsvector (sum of positions; a lexeme without positions counts once).
CREATE FUNCTION rag.tsvector_length(v tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)::integer FROM unnest(v) AS t
$$;

CREATE FUNCTION rag.chunks_index_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- One writer per tenant at a time keeps the statistics exact and the upserts deadlock-free.
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(t.tenant_id))
       FROM (SELECT DISTINCT tenant_id FROM new_chunks ORDER BY 1) AS t;

    -- One statement: the vocabulary upsert returns the term ids the postings need.
    WITH terms AS MATERIALIZED (
        SELECT c.id AS chunk_id, c.tenant_id, c.language, u.lexeme,
               coalesce(array_length(u.positions, 1), 1) AS tf,
               sum(coalesce(array_length(u.positions, 1), 1)) OVER (PARTITION BY c.id) AS dl
          FROM new_chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u
    ), lens AS (
        SELECT c.tenant_id, c.language, count(*) AS n, coalesce(sum(l.dl), 0) AS len
          FROM new_chunks AS c
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
           (t.tf / (t.tf + 1.2 * (0.25 + 0.75 * t.dl / greatest(c.avgdl, 1))))::real
      FROM terms AS t
      JOIN vocab AS v ON v.tenant_id = t.tenant_id AND v.language = t.language AND v.lexeme = t.lexeme
      JOIN corpus AS c ON c.tenant_id = t.tenant_id AND c.language = t.language;
    RETURN NULL;
END
$$;

CREATE FUNCTION rag.chunks_index_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(t.tenant_id))
       FROM (SELECT DISTINCT tenant_id FROM old_chunks ORDER BY 1) AS t;

    DELETE FROM rag.postings WHERE chunk_id IN (SELECT id FROM old_chunks);

    UPDATE rag.corpus_stats AS s
       SET chunk_count = s.chunk_count - d.n, total_len = s.total_len - d.len
      FROM (SELECT tenant_id, language, count(*) AS n, sum(rag.tsvector_length(fts)) AS len
              FROM old_chunks GROUP BY 1, 2) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language;
    DELETE FROM rag.corpus_stats WHERE chunk_count <= 0;

    UPDATE rag.term_stats AS s SET df = s.df - d.n
      FROM (SELECT c.tenant_id, c.language, u.lexeme, count(*) AS n
              FROM old_chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u GROUP BY 1, 2, 3) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language AND s.lexeme = d.lexeme;
    DELETE FROM rag.term_stats AS s
     USING (SELECT DISTINCT c.tenant_id, c.language, u.lexeme
              FROM old_chunks AS c CROSS JOIN LATERAL unnest(c.fts) AS u) AS d
     WHERE s.tenant_id = d.tenant_id AND s.language = d.language AND s.lexeme = d.lexeme AND s.df <= 0;
    RETURN NULL;
END
$$;

-- The indexed text of a chunk never changes in place: the pipeline replaces the chunk instead,
-- so the statistics above stay exact.
CREATE FUNCTION rag.chunks_text_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.content IS DISTINCT FROM OLD.content OR NEW.heading IS DISTINCT FROM OLD.heading
       OR NEW.language IS DISTINCT FROM OLD.language OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'rag.chunks: content, heading, language and tenant_id are immutable; replace the chunk'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER chunks_index_insert AFTER INSERT ON rag.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_index_insert();
CREATE TRIGGER chunks_index_delete AFTER DELETE ON rag.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_index_delete();
CREATE TRIGGER chunks_text_immutable BEFORE UPDATE ON rag.chunks
    FOR EACH ROW EXECUTE FUNCTION rag.chunks_text_immutable();

-- Registers (or re-registers) an embedding model and gives it its own cosine HNSW index.
CREATE FUNCTION rag.register_embedding_model(p_name text, p_provider text, p_dimensions integer,
                                             p_activate boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    existing integer;
BEGIN
    SELECT dimensions INTO existing FROM rag.embedding_models WHERE name = p_name;
    IF existing IS NOT NULL AND existing <> p_dimensions THEN
        RAISE EXCEPTION 'embedding model % is registered with % dimensions, not %', p_name, existing, p_dimensions
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO rag.embedding_models (name, provider, dimensions)
    VALUES (p_name, p_provider, p_dimensions) ON CONFLICT (name) DO NOTHING;
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON rag.chunk_embeddings USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE model = %L',
        'chunk_embeddings_hnsw_' || substr(md5(p_name), 1, 12), p_dimensions, p_name);
    IF p_activate THEN
        UPDATE rag.embedding_models SET active = false WHERE active AND name <> p_name;
        UPDATE rag.embedding_models SET active = true WHERE name = p_name AND NOT active;
    END IF;
END
$$;
