-- Named queries of the API. Parameters are $n; values never enter the text.

-- name: document_by_id
SELECT d.id, d.external_id, d.title, d.source, d.version, d.language::text AS language, d.content_hash,
       d.metadata, d.provenance, d.created_at, d.updated_at,
       (SELECT count(*) FROM rag.chunks AS c WHERE c.document_id = d.id) AS chunk_count,
       (SELECT count(*) FROM rag.chunks AS c JOIN rag.chunk_embeddings AS e ON e.chunk_id = c.id AND e.model = $3
         WHERE c.document_id = d.id) AS embedded_chunks
  FROM rag.documents AS d
 WHERE d.id = $1 AND d.tenant_id = $2;

-- name: document_content
SELECT d.id, d.external_id, d.title, d.source, d.language::text AS language, d.content, d.metadata, d.provenance
  FROM rag.documents AS d
 WHERE d.id = $1 AND d.tenant_id = $2;

-- name: documents_page
SELECT d.id, d.external_id, d.title, d.source, d.version, d.language::text AS language, d.content_hash,
       d.metadata, d.provenance, d.created_at, d.updated_at,
       (SELECT count(*) FROM rag.chunks AS c WHERE c.document_id = d.id) AS chunk_count,
       (SELECT count(*) FROM rag.chunks AS c JOIN rag.chunk_embeddings AS e ON e.chunk_id = c.id AND e.model = $3
         WHERE c.document_id = d.id) AS embedded_chunks
  FROM rag.documents AS d
 WHERE d.tenant_id = $1 AND d.id > $2
   AND ($4::text IS NULL OR d.source = $4)
   AND ($5::text IS NULL OR d.language::text = $5)
   AND ($6::jsonb IS NULL OR d.metadata @> $6)
 ORDER BY d.id
 LIMIT $7;

-- name: document_chunks
SELECT c.id, c.ordinal, c.content, c.section_path, c.char_start, c.char_end, c.token_count, c.content_hash,
       EXISTS (SELECT 1 FROM rag.chunk_embeddings AS e WHERE e.chunk_id = c.id AND e.model = $2) AS embedded
  FROM rag.chunks AS c
 WHERE c.document_id = $1
 ORDER BY c.ordinal;

-- name: delete_document
DELETE FROM rag.documents WHERE id = $1 AND tenant_id = $2 RETURNING id;

-- name: reindex_targets
SELECT d.id, d.external_id, d.title, d.source, d.language::text AS language, d.content, d.metadata, d.provenance
  FROM rag.documents AS d
 WHERE d.tenant_id = $1
   AND ($2::text[] IS NULL OR d.source = ANY($2))
   AND ($3::text[] IS NULL OR d.language::text = ANY($3))
   AND ($4::bigint[] IS NULL OR d.id = ANY($4))
   AND ($5::jsonb IS NULL OR d.metadata @> $5)
 ORDER BY d.id;

-- name: forget_embeddings
DELETE FROM rag.chunk_embeddings AS e
 USING rag.chunks AS c
 WHERE e.chunk_id = c.id AND c.document_id = ANY($1) AND e.model = $2;

-- name: model_exists
SELECT dimensions FROM rag.embedding_models WHERE name = $1;

-- name: export_documents
SELECT d.external_id, d.source, d.title, d.content, d.language::text AS language, d.metadata, d.provenance,
       d.version
  FROM rag.documents AS d
 WHERE d.tenant_id = $1 AND ($2::text IS NULL OR d.source = $2)
 ORDER BY d.id;

-- name: health
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm') AS pg_trgm,
       current_setting('server_version') AS server_version,
       coalesce((SELECT extract(epoch FROM now() - min(run_at)) FROM rag.jobs
                  WHERE status = 'pending' AND run_at <= now()), 0)::float8 AS queue_lag_seconds,
       (SELECT count(*) FROM rag.jobs WHERE status IN ('pending', 'running')) AS jobs_waiting;

-- name: unembedded_chunks
SELECT count(*) FROM rag.chunks AS c
 WHERE c.tenant_id = $1
   AND NOT EXISTS (SELECT 1 FROM rag.chunk_embeddings AS e WHERE e.chunk_id = c.id AND e.model = $2);

-- name: chat_session
SELECT id, user_id, title, created_at, updated_at FROM rag.chat_sessions WHERE id = $1 AND tenant_id = $2;

-- name: chat_messages
SELECT id, role, content, standalone_query, citations, usage, grounded, created_at
  FROM rag.chat_messages WHERE session_id = $1 ORDER BY id;

-- name: chat_create_session
INSERT INTO rag.chat_sessions (tenant_id, user_id, title) VALUES ($1, $2, $3) RETURNING id;

-- name: chat_touch_session
UPDATE rag.chat_sessions SET updated_at = now() WHERE id = $1;

-- name: chat_add_message
INSERT INTO rag.chat_messages (session_id, tenant_id, role, content, standalone_query, citations, usage, grounded)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id;
