-- Document lifecycle. A file uploaded with ?async=true is kept (its original in storage) and parsed by a worker:
-- parse_status goes queued -> parsing -> parsed, or failed with a reason a writer can act on (a dead
-- embedding job fails its document too). What the API calls a document's status follows from it and from the
-- chunks: queued, parsing, failed as stored; a parsed document is embedding until every chunk has a vector of
-- the model, then ready. Status changes are published on the realtime channel 'documents'.
ALTER TABLE rag.documents
    ADD COLUMN parse_status text NOT NULL DEFAULT 'parsed'
        CHECK (parse_status IN ('queued', 'parsing', 'parsed', 'failed')),
    ADD COLUMN status_reason text;
-- A document waiting for (or failed at) its first parse has no text yet.
ALTER TABLE rag.documents DROP CONSTRAINT documents_content_not_empty;
ALTER TABLE rag.documents ADD CONSTRAINT documents_content_not_empty
    CHECK (length(content) > 0 OR parse_status <> 'parsed');
CREATE INDEX documents_unsettled ON rag.documents (tenant_id, parse_status, id) WHERE parse_status <> 'parsed';

ALTER TABLE rag.realtime_events DROP CONSTRAINT realtime_events_channel_check;
ALTER TABLE rag.realtime_events ADD CONSTRAINT realtime_events_channel_check
    CHECK (channel IN ('jobs', 'approvals', 'notifications', 'odoo-sync', 'documents'));

-- A document's chunk counts and status for an embedding model (the caller's rights: row-level security applies).
CREATE FUNCTION rag.document_progress_v1(p_document_id bigint, p_parse_status text, p_model text,
                                         OUT chunk_count bigint, OUT embedded_chunks bigint, OUT status text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT n.chunks, n.embedded,
           CASE WHEN p_parse_status <> 'parsed' THEN p_parse_status
                WHEN n.embedded < n.chunks THEN 'embedding'
                ELSE 'ready' END
      FROM (SELECT count(*) AS chunks, count(e.chunk_id) AS embedded
              FROM rag.chunks AS c
              LEFT JOIN rag.chunk_embeddings AS e ON e.chunk_id = c.id AND e.model = p_model
             WHERE c.document_id = p_document_id) AS n
$$;
GRANT EXECUTE ON FUNCTION rag.document_progress_v1(bigint, text, text) TO ipai_app;
