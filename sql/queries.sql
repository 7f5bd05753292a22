-- Named queries of the API. Parameters are $n; values never enter the text.

-- name: document_content
SELECT d.id, d.external_id, d.title, d.source, d.language::text AS language, d.content, d.metadata, d.provenance
  FROM rag.documents AS d
 WHERE d.id = $1 AND d.tenant_id = $2;

-- name: documents_page
-- The tenant's documents after the cursor $2 (or the one document $9), with their original file and their
-- progress for the model $3, filtered by source, language, metadata and status.
SELECT d.id, d.external_id, d.title, d.source, d.version, d.language::text AS language, d.content_hash,
       d.metadata, d.provenance, d.created_at, d.updated_at, p.status, d.status_reason,
       (SELECT jsonb_build_object('bucket', o.bucket, 'key', o.key, 'size', o.size, 'content_type', o.content_type,
                                  'sha256', o.sha256)
          FROM storage.objects AS o WHERE o.id = d.original_id) AS original,
       p.chunk_count, p.embedded_chunks
  FROM rag.documents AS d
 CROSS JOIN LATERAL rag.document_progress_v1(d.id, d.parse_status, $3) AS p
 WHERE d.tenant_id = $1 AND d.id > $2
   AND ($9::bigint IS NULL OR d.id = $9)
   AND ($4::text IS NULL OR d.source = $4)
   AND ($5::text IS NULL OR d.language::text = $5)
   AND ($6::jsonb IS NULL OR d.metadata @> $6)
   AND ($8::text IS NULL OR p.status = $8)
   AND ($8::text IS NULL OR $8 IN ('embedding', 'ready') OR d.parse_status = $8)
 ORDER BY d.id
 LIMIT $7;

-- name: documents_publish
-- A 'documents' realtime event per document (status, counts for the model $2).
INSERT INTO rag.realtime_events (tenant_id, channel, payload)
SELECT d.tenant_id, 'documents',
       jsonb_build_object('document_id', d.id, 'title', d.title, 'source', d.source, 'status', p.status,
                          'reason', d.status_reason, 'chunk_count', p.chunk_count,
                          'embedded_chunks', p.embedded_chunks)
  FROM rag.documents AS d
 CROSS JOIN LATERAL rag.document_progress_v1(d.id, d.parse_status, $2) AS p
 WHERE d.id = ANY($1::bigint[])
 ORDER BY d.id;

-- name: document_parse_status
-- Move a document to a parse status (with the reason of a failure); returns its id.
UPDATE rag.documents SET parse_status = $2, status_reason = $3 WHERE id = $1 RETURNING id;

-- name: document_state
SELECT d.id, d.parse_status, d.status_reason, d.original_id, d.external_id, d.source, d.title,
       d.language::text AS language, d.metadata, d.provenance, length(d.content) > 0 AS has_text
  FROM rag.documents AS d
 WHERE d.id = $1 AND d.tenant_id = $2;

-- name: documents_unsettled
-- How many of the documents are still queued, parsing or embedding (for the model $2).
SELECT count(*) FROM rag.documents AS d
 CROSS JOIN LATERAL rag.document_progress_v1(d.id, d.parse_status, $2) AS p
 WHERE d.id = ANY($1::bigint[]) AND p.status IN ('queued', 'parsing', 'embedding');

-- name: document_queue
-- A document waiting for its file to be parsed: a new one (no text yet) or an existing one kept as it is until
-- the parse replaces it.
INSERT INTO rag.documents AS d (tenant_id, external_id, title, source, provenance, language, content, content_hash,
                                metadata, original_id, parse_status)
VALUES ($1, $2, $3, $4, $5, $6::regconfig, '', '', $7, $8, 'queued')
ON CONFLICT (tenant_id, source, external_id) DO UPDATE
   SET parse_status = 'queued', status_reason = NULL
RETURNING d.id;

-- name: document_chunks
SELECT c.id, c.ordinal, c.content, c.section_path, c.char_start, c.char_end, c.token_count, c.content_hash,
       EXISTS (SELECT 1 FROM rag.chunk_embeddings AS e WHERE e.chunk_id = c.id AND e.model = $2) AS embedded,
       coalesce(c.metadata -> 'flags', '[]'::jsonb) AS flags
  FROM rag.chunks AS c
 WHERE c.document_id = $1
 ORDER BY c.ordinal;

-- name: delete_document
DELETE FROM rag.documents WHERE id = $1 AND tenant_id = $2 RETURNING id, original_id;

-- name: original_unused
-- No (other) document keeps this stored object as its original.
SELECT NOT EXISTS (SELECT 1 FROM rag.documents WHERE original_id = $1);

-- name: document_original
SELECT original_id FROM rag.documents WHERE id = $1 AND tenant_id = $2;

-- name: documents_link_original
-- Documents now parsed from the stored object $1; returns the originals they had before.
WITH old AS (
    SELECT d.id, d.original_id FROM rag.documents AS d
     WHERE d.id = ANY($2::bigint[]) AND d.original_id IS DISTINCT FROM $1
       FOR UPDATE
)
UPDATE rag.documents AS d SET original_id = $1
  FROM old WHERE d.id = old.id
RETURNING old.original_id;

-- name: reindex_targets
SELECT d.id, d.external_id, d.title, d.source, d.language::text AS language, d.content, d.metadata, d.provenance,
       d.original_id
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
       h.queue_lag_seconds, h.jobs_waiting
  FROM rag.queue_health_v1() AS h;

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

-- name: catalog_upsert
-- Re-registering an unchanged asset writes nothing (updated_at stays): sync is idempotent.
INSERT INTO catalog.assets AS a (fqdn, tenant_id, type, system, db, model, metadata, owner, tags, registered_by, status)
SELECT k.fqdn, $1, k.type, k.system, k.db, k.model, k.metadata, k.owner,
       coalesce(string_to_array(nullif(k.tags, ''), E'\x1f'), '{}'), k.registered_by, 'active'
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[],
              $10::text[]) AS k(fqdn, type, system, db, model, metadata, owner, tags, registered_by)
ON CONFLICT (fqdn) DO UPDATE
   SET type = excluded.type, metadata = excluded.metadata, owner = excluded.owner,
       tags = excluded.tags, registered_by = excluded.registered_by, status = 'active', updated_at = now()
 WHERE a.tenant_id = excluded.tenant_id
   AND (a.type, a.metadata, a.owner, a.tags, a.registered_by, a.status)
       IS DISTINCT FROM (excluded.type, excluded.metadata, excluded.owner, excluded.tags, excluded.registered_by, 'active')
RETURNING fqdn, (xmax = 0) AS inserted;

-- name: catalog_get
SELECT fqdn, type, system, db, model, metadata, owner, tags, status, registered_by, registered_at, updated_at
  FROM catalog.assets WHERE fqdn = $1 AND tenant_id = $2;

-- name: catalog_delete
DELETE FROM catalog.assets WHERE fqdn = $1 AND tenant_id = $2 RETURNING fqdn;

-- name: catalog_retire
UPDATE catalog.assets SET status = 'retired', updated_at = now()
 WHERE tenant_id = $1 AND registered_by = $2 AND status = 'active' AND fqdn <> ALL($3::text[])
RETURNING fqdn;

-- name: catalog_fuzzy
-- Trigram candidates among the distinct names, then their assets; rapidfuzz re-ranks in Python.
-- (Narrow a name shared by many assets with the system or type filter.)
-- The candidates come from catalog.fuzzy_names_v1 (SECURITY DEFINER: see 0009), $6 its threshold.
WITH names AS (SELECT f.name, f.sim FROM catalog.fuzzy_names_v1($1, $2, $6, 60) AS f)
SELECT a.fqdn, a.type, a.system, a.db, a.model, a.metadata, a.owner, a.tags, a.status, a.registered_by,
       a.registered_at, a.updated_at, a.name, names.sim
  FROM names
 CROSS JOIN LATERAL (
       SELECT * FROM catalog.assets AS a
        WHERE a.tenant_id = $2 AND a.name = names.name
          AND ($3::text IS NULL OR a.type = $3) AND ($4::text IS NULL OR a.system = $4)
        ORDER BY a.fqdn LIMIT 25) AS a   -- a name shared by many assets offers its first 25
 ORDER BY names.sim DESC, a.fqdn
 LIMIT $5;

-- name: catalog_list
SELECT fqdn, type, system, db, model, metadata, owner, tags, status, registered_by, registered_at, updated_at
  FROM catalog.assets
 WHERE tenant_id = $1 AND fqdn > $2
   AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR system = $4)
 ORDER BY fqdn
 LIMIT $5;

-- name: catalog_link
INSERT INTO catalog.lineage (from_fqdn, to_fqdn, relation, tenant_id)
SELECT k.f, k.t, k.r, $1 FROM unnest($2::text[], $3::text[], $4::text[]) AS k(f, t, r)
ON CONFLICT DO NOTHING;

-- name: catalog_lineage_down
-- An edge back into the path is reported (cycle = true) but not followed: the walk always ends.
WITH RECURSIVE walk (from_fqdn, to_fqdn, relation, depth, path, cycle) AS (
    SELECT l.from_fqdn, l.to_fqdn, l.relation, 1, ARRAY[l.from_fqdn, l.to_fqdn], l.to_fqdn = l.from_fqdn
      FROM catalog.lineage AS l WHERE l.from_fqdn = $1 AND l.tenant_id = $3
    UNION ALL
    SELECT l.from_fqdn, l.to_fqdn, l.relation, w.depth + 1, w.path || l.to_fqdn, l.to_fqdn = ANY (w.path)
      FROM walk AS w JOIN catalog.lineage AS l ON l.from_fqdn = w.to_fqdn AND l.tenant_id = $3
     WHERE w.depth < $2 AND NOT w.cycle
)
SELECT DISTINCT ON (from_fqdn, to_fqdn, relation) from_fqdn, to_fqdn, relation, depth
  FROM walk ORDER BY from_fqdn, to_fqdn, relation, depth;

-- name: catalog_lineage_up
WITH RECURSIVE walk (from_fqdn, to_fqdn, relation, depth, path, cycle) AS (
    SELECT l.from_fqdn, l.to_fqdn, l.relation, 1, ARRAY[l.to_fqdn, l.from_fqdn], l.to_fqdn = l.from_fqdn
      FROM catalog.lineage AS l WHERE l.to_fqdn = $1 AND l.tenant_id = $3
    UNION ALL
    SELECT l.from_fqdn, l.to_fqdn, l.relation, w.depth + 1, w.path || l.from_fqdn, l.from_fqdn = ANY (w.path)
      FROM walk AS w JOIN catalog.lineage AS l ON l.to_fqdn = w.from_fqdn AND l.tenant_id = $3
     WHERE w.depth < $2 AND NOT w.cycle
)
SELECT DISTINCT ON (from_fqdn, to_fqdn, relation) from_fqdn, to_fqdn, relation, depth
  FROM walk ORDER BY from_fqdn, to_fqdn, relation, depth;

-- name: catalog_self_relations
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view' ELSE 'table' END AS type,
       obj_description(c.oid, 'pg_class') AS comment,
       (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
                         ORDER BY a.attnum)
          FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY 1, 2;

-- name: catalog_self_functions
SELECT n.nspname AS schema, p.proname AS name,
       string_agg(pg_get_function_identity_arguments(p.oid), ' | ') AS args,
       min(pg_get_function_result(p.oid)) AS result
  FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY ($1::text[])
 GROUP BY 1, 2 ORDER BY 1, 2;

-- name: catalog_self_foreign_keys
SELECT DISTINCT sn.nspname || '.' || s.relname AS from_name, tn.nspname || '.' || t.relname AS to_name
  FROM pg_constraint AS k
  JOIN pg_class AS s ON s.oid = k.conrelid JOIN pg_namespace AS sn ON sn.oid = s.relnamespace
  JOIN pg_class AS t ON t.oid = k.confrelid JOIN pg_namespace AS tn ON tn.oid = t.relnamespace
 WHERE k.contype = 'f' AND sn.nspname = ANY ($1::text[]) AND tn.nspname = ANY ($1::text[]);

-- name: catalog_kb_sources
SELECT source, count(*) AS documents, max(updated_at) AS last_update
  FROM rag.documents WHERE tenant_id = $1 AND source <> 'catalog'
 GROUP BY source ORDER BY source;

-- name: odoo_instance
SELECT i.id, i.tenant_id, i.name, i.base_url, i.database FROM odoo.instances AS i WHERE i.name = $1;

-- name: odoo_audit
-- One row of the ledger's append-only log (repeated: how many rejections of a window it stands for).
INSERT INTO odoo.event_log (tenant_id, instance_id, event_row, kind, status, reason, remote_addr, user_agent, repeated)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: odoo_event_by_event_id
SELECT id, status FROM odoo.webhook_events WHERE instance_id = $1 AND event_id = $2;

-- name: odoo_set_status
UPDATE odoo.webhook_events
   SET status = $2, attempts = attempts + $3, last_error = $4,
       processed_at = CASE WHEN $2 IN ('completed', 'dead') THEN now() ELSE processed_at END
 WHERE id = $1
RETURNING tenant_id, instance_id;

-- name: odoo_upsert_project
INSERT INTO odoo_seed.shadow_projects AS s (instance_id, tenant_id, odoo_id, external_ref, name, write_date, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (instance_id, odoo_id) DO UPDATE
   SET name = excluded.name, external_ref = coalesce(excluded.external_ref, s.external_ref),
       previous_name = CASE WHEN s.name IS DISTINCT FROM excluded.name THEN s.name ELSE s.previous_name END,
       write_date = excluded.write_date, raw = excluded.raw, synced_at = now()
 WHERE s.write_date < excluded.write_date
RETURNING odoo_id;

-- name: odoo_upsert_task
INSERT INTO odoo_seed.shadow_tasks AS s (instance_id, tenant_id, odoo_id, external_ref, project_odoo_id, name, write_date, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (instance_id, odoo_id) DO UPDATE
   SET name = excluded.name, external_ref = coalesce(excluded.external_ref, s.external_ref),
       project_odoo_id = excluded.project_odoo_id,
       previous_name = CASE WHEN s.name IS DISTINCT FROM excluded.name THEN s.name ELSE s.previous_name END,
       write_date = excluded.write_date, raw = excluded.raw, synced_at = now()
 WHERE s.write_date < excluded.write_date
RETURNING odoo_id;

-- name: odoo_upsert_move
INSERT INTO odoo_seed.shadow_moves AS s (instance_id, tenant_id, odoo_id, name, move_type, state, amount_total, partner,
                                         write_date, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (instance_id, odoo_id) DO UPDATE
   SET name = excluded.name, move_type = excluded.move_type, state = excluded.state,
       amount_total = excluded.amount_total, partner = excluded.partner, write_date = excluded.write_date,
       raw = excluded.raw, synced_at = now()
 WHERE s.write_date < excluded.write_date
RETURNING odoo_id;

-- name: odoo_mapping
INSERT INTO odoo.entity_mappings AS m (instance_id, tenant_id, odoo_model, odoo_id, local_kind, local_id, external_ref)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (instance_id, odoo_model, odoo_id) DO UPDATE
   SET local_kind = excluded.local_kind, local_id = excluded.local_id,
       external_ref = coalesce(excluded.external_ref, m.external_ref), updated_at = now();

-- name: odoo_cursor
SELECT last_write_date, last_id FROM odoo.sync_cursors WHERE instance_id = $1 AND model = $2;

-- name: odoo_cursor_save
INSERT INTO odoo.sync_cursors AS c (instance_id, tenant_id, model, last_write_date, last_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, model) DO UPDATE
   SET last_write_date = excluded.last_write_date, last_id = excluded.last_id, updated_at = now();

-- name: odoo_event_locked
SELECT e.*, i.name AS instance_name, i.database AS instance_db
  FROM odoo.webhook_events AS e JOIN odoo.instances AS i ON i.id = e.instance_id
 WHERE e.id = $1
   FOR UPDATE OF e;

-- name: odoo_receive
-- One statement (one round trip, one commit): the event, its processing job and its audit row.
-- No row back means the event id was seen before.
WITH ev AS (
    INSERT INTO odoo.webhook_events (instance_id, tenant_id, source, event_id, event_type, aggregate_type,
                                     aggregate_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (instance_id, event_id) DO NOTHING
    RETURNING id
), job AS (
    INSERT INTO rag.jobs (tenant_id, queue, kind, payload, max_attempts)
    SELECT $2, 'odoo', 'odoo_event', jsonb_build_object('event', ev.id), 5 FROM ev
), audit AS (
    INSERT INTO odoo.event_log (tenant_id, instance_id, event_row, kind, status, remote_addr, user_agent)
    SELECT $2, $1, ev.id, 'received', 'pending', left($9, 256), left($10, 256) FROM ev
)
SELECT id FROM ev;

-- name: chunk_flags
-- The spans of retrieved chunks flagged at ingest as instructions to the assistant (ingest/instructions.py).
SELECT c.id, c.metadata -> 'flags' AS flags
  FROM rag.chunks AS c
 WHERE c.id = ANY($1::bigint[]) AND c.metadata ? 'flags';


-- name: realtime_last_id
-- Where a new subscriber of a channel starts: after its newest message.
SELECT coalesce(max(id), 0) FROM rag.realtime_events WHERE tenant_id = $1 AND channel = $2;

-- name: realtime_missed
-- A channel's messages after a subscriber's last one (Last-Event-ID), oldest first, a page at a time.
SELECT id, payload::text AS data FROM rag.realtime_events
 WHERE tenant_id = $1 AND channel = $2 AND id > $3
 ORDER BY id LIMIT 1000;

-- name: realtime_publish
-- A message on a channel (its trigger sends the NOTIFY that wakes subscribers).
INSERT INTO rag.realtime_events (tenant_id, channel, payload) VALUES ($1, $2, $3) RETURNING id;

-- name: odoo_github_replay
-- A GitHub body this instance received within the replay window (GitHub signs no timestamp), if any.
SELECT id, status FROM odoo.webhook_events
 WHERE instance_id = $1 AND source = 'github' AND md5(payload::text) = md5($2::jsonb::text) AND payload = $2::jsonb
   AND received_at > now() - make_interval(secs => $3)
 ORDER BY id LIMIT 1;

-- name: job_enqueue
-- Add a job to a queue; its id, or NULL when a job of the same dedupe key is already waiting. The waiting job
-- then takes this payload and stays locked until the caller's transaction ends, so no worker claims it (SKIP
-- LOCKED) before what this transaction wrote is visible: it cannot run on the state before the change that
-- enqueued it and leave that change undone.
INSERT INTO rag.jobs (tenant_id, queue, kind, payload, max_attempts, dedupe_key, run_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND status = 'pending'
DO UPDATE SET payload = EXCLUDED.payload, run_at = LEAST(rag.jobs.run_at, EXCLUDED.run_at), updated_at = now()
RETURNING CASE WHEN xmax = 0 THEN id END;

-- name: jobs_enqueue_many
-- Add many jobs of one kind in one statement; how many were added (not already waiting). As job_enqueue, a
-- waiting job of the same key takes the payload, is due now (not after an earlier failure's backoff) and stays
-- locked until the caller's transaction ends (the last payload of a key repeated in the call wins; keys are
-- locked in their order).
WITH added AS (
    INSERT INTO rag.jobs (tenant_id, queue, kind, payload, max_attempts, dedupe_key)
    SELECT $1, $2, $3, j.payload, $4, j.dedupe_key
      FROM (SELECT u.*, row_number() OVER (PARTITION BY u.dedupe_key ORDER BY u.n DESC) AS latest
              FROM unnest($5::jsonb[], $6::text[]) WITH ORDINALITY AS u(payload, dedupe_key, n)) AS j
     WHERE j.dedupe_key IS NULL OR j.latest = 1
     ORDER BY j.dedupe_key, j.n
    ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL AND status = 'pending'
    DO UPDATE SET payload = EXCLUDED.payload, run_at = LEAST(rag.jobs.run_at, EXCLUDED.run_at), updated_at = now()
    RETURNING xmax = 0 AS inserted)
SELECT count(*) FILTER (WHERE inserted) FROM added;

-- name: jobs_claim
-- Claim up to a limit of due jobs of a queue across tenants (rag.claim_jobs_v1, SECURITY DEFINER).
SELECT * FROM rag.claim_jobs_v1($1, $2, $3, $4);

-- name: jobs_complete
-- Mark jobs done that are still leased to this worker; how many were.
WITH d AS (UPDATE rag.jobs SET status = 'done', finished_at = now(), updated_at = now(),
                              locked_by = NULL, lease_until = NULL, last_error = NULL
            WHERE id = ANY($1) AND status = 'running' AND locked_by = $2 RETURNING 1)
SELECT count(*) FROM d;

-- name: job_fail
-- A failed job: back to pending after a backoff, or dead once its attempts are used up; done when a job of its
-- dedupe key was enqueued while it ran (that one, waiting, does the work again on the newer state).
WITH twin AS (SELECT rag.job_twin_waiting_v1($1) AS waiting)
UPDATE rag.jobs
      SET status = CASE WHEN attempts >= max_attempts THEN 'dead' WHEN twin.waiting THEN 'done' ELSE 'pending' END,
          run_at = now() + make_interval(secs => $3), last_error = $4,
          locked_by = NULL, lease_until = NULL, updated_at = now(),
          finished_at = CASE WHEN attempts >= max_attempts OR twin.waiting THEN now() END
     FROM twin
    WHERE id = $1 AND locked_by = $2 AND status = 'running'
RETURNING status;

-- name: job_replay
-- A dead job back to pending, its attempts reset; done when a job of its dedupe key is already waiting (that
-- one does the work).
WITH twin AS (SELECT rag.job_twin_waiting_v1($1) AS waiting)
UPDATE rag.jobs SET status = CASE WHEN twin.waiting THEN 'done' ELSE 'pending' END,
                    attempts = CASE WHEN twin.waiting THEN attempts ELSE 0 END, run_at = now(), updated_at = now(),
                    finished_at = CASE WHEN twin.waiting THEN now() END
  FROM twin
 WHERE id = $1 AND queue = $2 AND status = 'dead' RETURNING true;

-- name: jobs_unfinished
-- The tenant's jobs of a queue that are not finished (pending or running).
SELECT count(*) FROM rag.jobs WHERE queue = $1 AND status IN ('pending', 'running')
AND tenant_id = $2;

-- name: jobs_by_state
-- Job counts by queue and state.
SELECT queue, status, count(*) AS n FROM rag.jobs GROUP BY 1, 2 ORDER BY 1, 2;

-- name: jobs_oldest_due
-- Seconds since the oldest due pending job was due.
SELECT extract(epoch FROM now() - min(run_at)) FROM rag.jobs WHERE status = 'pending' AND run_at <= now();

-- name: jobs_dead
-- The newest dead-lettered jobs.
SELECT id, queue, kind, attempts, last_error, updated_at FROM rag.jobs
WHERE status = 'dead' ORDER BY id DESC LIMIT 100;

-- name: lexical_defer_in_transaction
-- Leave this transaction's chunk inserts to the lexical backlog (the chunk triggers read the setting).
SELECT set_config('rag.defer_lexical', 'on', true);

-- name: lexical_defer_index
-- A load into a tenant without postings defers the tenant's postings and trigram indexes (true if it did).
SELECT rag.defer_lexical_index_v2($1, $2);

-- name: lexical_build_index
-- Build the lexical indexes a load deferred, once its backlog is drained.
SELECT rag.build_lexical_index_v2($1, $2);

-- name: lexical_index_backlog
-- Index one pass of the tenant's lexical backlog; how many chunks it indexed.
SELECT rag.index_backlog_v3($1);

-- name: lexical_backlog_size
-- The tenant's lexical backlog: its chunks and the age of the oldest.
SELECT count(*) AS chunks, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest
FROM rag.lexical_backlog;

-- name: lexical_stale_backlogs
-- Tenants whose backlog no live load has touched for a while (the load died).
SELECT t FROM rag.stale_lexical_backlog_v1($1) AS t;

-- name: lexical_stale_deferrals
-- Tenants whose deferred lexical indexes no live load holds.
SELECT t FROM rag.stale_lexical_index_deferrals_v1() AS t;

-- name: text_search_configurations
-- The text search configurations the server has (the languages a document may be in).
SELECT cfgname FROM pg_catalog.pg_ts_config;

-- name: model_index_release
-- A load's end hands the model's deferred vector index to the embedding workers.
SELECT rag.release_model_index_v1($1);

-- name: model_index_defer
-- A load into a model without vectors defers its HNSW index (true if it did).
SELECT rag.defer_model_index_v1($1, $2);

-- name: model_register
-- Register an embedding model (and its HNSW index), unless a load has deferred that index.
SELECT rag.register_embedding_model($1, $2, $3, $4)
WHERE NOT EXISTS (SELECT FROM rag.embedding_models WHERE name = $1 AND index_deferred);

-- name: model_index_build
-- Build a model's deferred vector index once its load and embedding jobs are done.
SELECT rag.build_model_index_v1($1);

-- name: embedding_job_chunks
-- A job's documents' chunks: the text of those without a vector for the model, the vector of the others.
SELECT c.id, c.document_id, c.tenant_id, c.content_hash, e.embedding,
      CASE WHEN e.chunk_id IS NULL THEN c.heading END AS heading,
      CASE WHEN e.chunk_id IS NULL THEN c.content END AS content
 FROM rag.chunks AS c
 LEFT JOIN rag.chunk_embeddings AS e ON e.chunk_id = c.id AND e.model = $2
WHERE c.document_id = ANY($1)
ORDER BY c.id;

-- name: embeddings_write
-- Fresh chunk vectors (a chunk embedded meanwhile is kept) and the documents' mean vectors, in one statement.
WITH added AS (
    INSERT INTO rag.chunk_embeddings (chunk_id, model, tenant_id, content_hash, embedding)
    SELECT k.chunk_id, $1, k.tenant_id, k.content_hash, k.embedding
      FROM unnest($2::bigint[], $3::text[], $4::text[], $5::vector[])
           AS k(chunk_id, tenant_id, content_hash, embedding)
    ON CONFLICT (chunk_id, model) DO NOTHING)
UPDATE rag.documents AS d SET embedding = k.embedding
  FROM unnest($6::bigint[], $7::vector[]) AS k(id, embedding)
 WHERE d.id = k.id;

-- name: documents_existing
-- The stored documents among (source, external id) pairs of a batch.
SELECT d.id, d.source, d.external_id, d.content_hash, d.title, d.language::text AS language,
      d.metadata
 FROM rag.documents AS d
 JOIN unnest($2::text[], $3::text[]) AS k(source, external_id)
   ON d.source = k.source AND d.external_id = k.external_id
WHERE d.tenant_id = $1;

-- name: documents_insert
-- A batch of new documents, in order; their ids.
INSERT INTO rag.documents (tenant_id, external_id, title, source, provenance, language,
                              content, content_hash, metadata)
   SELECT $1, k.external_id, k.title, k.source, k.provenance, k.language::regconfig,
          k.content, k.content_hash, k.metadata
     FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
                 $8::text[], $9::jsonb[])
          WITH ORDINALITY AS k(external_id, title, source, provenance, language, content,
                               content_hash, metadata, n)
    ORDER BY k.n
RETURNING id;

-- name: documents_update
-- New text, title, language and metadata of changed documents (version bumped unless a reindex).
UPDATE rag.documents AS d
  SET title = k.title, provenance = k.provenance, language = k.language::regconfig,
      content = k.content, content_hash = k.content_hash, metadata = k.metadata,
      version = d.version + $8::int, updated_at = now()
 FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[],
             $7::jsonb[]) AS k(id, title, provenance, language, content, content_hash, metadata)
WHERE d.id = k.id;

-- name: chunks_of_documents
-- The chunks of documents, in order: their hashes and headings decide which are kept.
SELECT id, document_id, content_hash, heading, language::text AS language FROM rag.chunks
WHERE document_id = ANY($1) ORDER BY document_id, ordinal;

-- name: chunks_delete
-- Chunks no longer in their document's text.
DELETE FROM rag.chunks WHERE id = ANY($1);

-- name: chunks_move
-- Kept chunks' new places in their document's text.
UPDATE rag.chunks AS c SET ordinal = k.ordinal, char_start = k.char_start,
                          char_end = k.char_end, section_path = k.section_path
 FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[], $5::text[])
      AS k(id, ordinal, char_start, char_end, section_path)
WHERE c.id = k.id;

-- name: text_search_configuration_oids
-- Text search configurations by oid (the regconfig codec's table).
SELECT oid::int8 AS oid, cfgname FROM pg_catalog.pg_ts_config;

-- name: available_extensions
-- Which of the required extensions the server can provide.
SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[]);

-- name: migrations_table
-- The table recording applied migrations and their checksums.
CREATE TABLE IF NOT EXISTS public.ipai_migrations (
version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrations_lock
-- One migrator at a time (serve and worker may start together).
SELECT pg_advisory_lock(hashtext('ipai_migrations'));

-- name: migrations_applied
-- The migrations applied so far.
SELECT version, name, checksum FROM public.ipai_migrations;

-- name: migration_record
-- Record an applied migration.
INSERT INTO public.ipai_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: migrations_unlock
-- Release the migrator's lock.
SELECT pg_advisory_unlock(hashtext('ipai_migrations'));

-- name: tenant_bind
-- Bind the transaction to a tenant: row-level security sees it and no other (local to the transaction).
SELECT set_config('app.tenant_id', $1, true);

-- name: owner_rights
-- Whether the owner may run the cross-tenant functions (superuser or BYPASSRLS).
SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user;

-- name: quote_literal
-- A value as an SQL literal, for DDL that takes no parameters (ALTER ROLE ... PASSWORD).
SELECT quote_literal($1::text);

-- name: hybrid_search
-- The hybrid search: its 26 arguments in the order of rag.hybrid_search (retrieval/retriever.py passes them).
SELECT * FROM rag.hybrid_search($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                                $20, $21, $22, $23, $24, $25, $26);

-- name: dev_keys_revoke
-- Revoke the development keys of a tenant (serve prints a fresh one at every start).
UPDATE control_plane.api_keys SET revoked_at = now() WHERE name = 'development' AND revoked_at IS NULL;

-- name: catalog_documents_delete
-- The knowledge-base items of catalog assets no longer active.
DELETE FROM rag.documents WHERE tenant_id = $1 AND source = 'catalog' AND external_id = ANY($2);

-- name: current_database
-- The database's name (the middle part of its assets' FQDNs).
SELECT current_database();

-- name: chat_session_row
-- A chat session of the tenant, all of it.
SELECT * FROM rag.chat_sessions WHERE id = $1 AND tenant_id = $2;

-- name: chunks_unembedded_count
-- How many chunks of the documents have no vector of the model yet.
SELECT count(*) FROM rag.chunks AS c WHERE c.document_id = ANY($1) AND NOT EXISTS
(SELECT 1 FROM rag.chunk_embeddings AS e WHERE e.chunk_id = c.id AND e.model = $2);

-- name: odoo_instance_add
-- Register an Odoo instance of the tenant.
INSERT INTO odoo.instances (tenant_id, name, base_url, database) VALUES ($1, $2, $3, $4) RETURNING id;

-- name: odoo_instance_id
-- An instance's id by name within the tenant.
SELECT id FROM odoo.instances WHERE name = $1 AND tenant_id = $2;

-- name: odoo_event_status
-- A ledger event's state, for its owner.
SELECT id, event_id, event_type, aggregate_type, aggregate_id, status, attempts, last_error, received_at, processed_at FROM odoo.webhook_events WHERE id = $1 AND tenant_id = $2;

-- name: catalog_asset_retire
-- A catalog asset Odoo no longer has is retired, not deleted.
UPDATE catalog.assets SET status = 'retired', updated_at = now() WHERE fqdn = $1;

-- name: odoo_document_by_provenance
-- The knowledge-base document an Odoo record became, and the write date it was made from.
SELECT id, provenance->>'write_date' AS wd FROM rag.documents WHERE tenant_id = $1 AND source = $2 AND external_id = $3 FOR UPDATE;

-- name: document_delete_by_id
-- Delete a document (its chunks and vectors go with it).
DELETE FROM rag.documents WHERE id = $1;

-- name: odoo_event_dead_job
-- The dead-lettered processing job of a ledger event.
SELECT id FROM rag.jobs WHERE queue = $1 AND status = 'dead' AND (payload->>'event')::bigint = $2;

-- name: scheduled_jobs_due
-- The tenant's scheduled jobs that are due, locked so that one worker runs each.
SELECT name, tenant_id, cron, timezone, action, webhook_url, next_run_at FROM odoo.scheduled_jobs
WHERE enabled AND (next_run_at IS NULL OR next_run_at <= $1) ORDER BY name FOR UPDATE SKIP LOCKED;

-- name: prune_stale
-- Realtime messages and finished jobs older than a number of days, in every tenant (SECURITY DEFINER).
SELECT * FROM rag.prune_v1($1);

-- name: prune_audit
-- Audit rows older than the retention, in every tenant (SECURITY DEFINER; the only delete the log allows).
SELECT * FROM odoo.prune_audit_v1($1);

-- name: schedule_tenants
-- The tenants that have scheduled jobs (SECURITY DEFINER: no tenant content).
SELECT array(SELECT odoo.schedule_tenants_v1());

-- name: scheduled_job_ran
-- A scheduled job ran: its next and last run.
UPDATE odoo.scheduled_jobs SET next_run_at = $2, last_run_at = CASE WHEN $3 THEN $4 ELSE last_run_at END WHERE name = $1;

-- name: odoo_instance_urls
-- The base URLs of the tenant's Odoo instances (the hosts a catalog sync may call).
SELECT i.base_url FROM odoo.instances AS i;

-- name: odoo_instances_of_tenant
-- The tenant's Odoo instances.
SELECT i.name, i.id, i.tenant_id, i.base_url, i.database FROM odoo.instances AS i ORDER BY i.id;

-- name: odoo_plaintext_secrets
-- Webhook secrets stored in plain text by earlier versions (moved into the vault at start-up).
SELECT i.tenant_id, i.name, s.id, s.secret, s.active FROM odoo.instance_secrets AS s
JOIN odoo.instances AS i ON i.id = s.instance_id ORDER BY s.id;

-- name: odoo_plaintext_secret_delete
-- A plain-text webhook secret once it is in the vault.
DELETE FROM odoo.instance_secrets WHERE id = $1;

-- name: seed_tasks_clear
-- The tenant's seeded tasks, before a new seed.
DELETE FROM odoo_seed.seed_tasks WHERE tenant_id = $1;

-- name: seed_projects_clear
-- The tenant's seeded projects, before a new seed.
DELETE FROM odoo_seed.seed_projects WHERE tenant_id = $1;

-- name: seed_project_add
-- A seeded project.
INSERT INTO odoo_seed.seed_projects (tenant_id, external_ref, name) VALUES ($1, $2, $3);

-- name: seed_task_add
-- A seeded task.
INSERT INTO odoo_seed.seed_tasks (tenant_id, external_ref, project_ref, name) VALUES ($1, $2, $3, $4);

-- name: bot_register
-- Register (or update) a bot and the secrets it may read.
INSERT INTO control_plane.bot_registry (bot_id, tenant_id, description, allowed_secrets)
VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, bot_id) DO UPDATE
SET description = excluded.description, allowed_secrets = excluded.allowed_secrets;

-- name: api_key_add
-- A new API key of the tenant (only its hash is stored).
INSERT INTO control_plane.api_keys (id, tenant_id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6);

-- name: api_key_by_prefix
-- An API key found by its public prefix, across tenants (SECURITY DEFINER).
SELECT * FROM control_plane.api_key_by_prefix_v1($1);

-- name: api_key_revoke
-- Revoke one of the tenant's keys.
UPDATE control_plane.api_keys SET revoked_at = now() WHERE id = $1::uuid AND revoked_at IS NULL RETURNING 1;

-- name: vault_lock
-- Serialise new versions of one secret.
SELECT pg_advisory_xact_lock(hashtext('vault:' || $1 || ':' || $2));

-- name: vault_next_version
-- The next version number of a secret.
SELECT coalesce(max(version), 0) + 1 FROM control_plane.secrets WHERE tenant_id = $1 AND name = $2;

-- name: vault_put
-- A new version of a secret (ciphertext only).
INSERT INTO control_plane.secrets (id, tenant_id, name, version, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5, $6);

-- name: vault_retire
-- Retire versions of a secret; how many were.
WITH r AS (UPDATE control_plane.secrets SET retired_at = now()
    WHERE tenant_id = $1 AND name = $2 AND retired_at IS NULL
      AND ($3::int IS NULL OR version = $3)
      AND NOT ($4 AND version = (SELECT max(version) FROM control_plane.secrets
                                  WHERE tenant_id = $1 AND name = $2))
RETURNING 1) SELECT count(*) FROM r;

-- name: vault_bot_read
-- A bot's audited read of a secret (the audit row is written first, in the same transaction).
SELECT * FROM control_plane.control_plane_get_secret_logged($1, $2, $3, $4, $5);

-- name: vault_service_values
-- The service's own reads of a secret, audited as the bot ipai-rag.
SELECT * FROM control_plane.service_secrets_v1($1);

-- name: knowledge_base_vacuum
-- After a bulk load, as the owner: fresh statistics and the visibility map the lexical leg's index-only scans need.
VACUUM (ANALYZE) rag.documents, rag.chunks, rag.chunk_embeddings, rag.postings, rag.term_stats,
rag.corpus_stats, rag.lexical_backlog;

-- name: bench_chunk_count
-- How many chunks a tenant holds (the search benchmark grows its corpus to each size).
SELECT count(*) FROM rag.chunks WHERE tenant_id = $1;

-- name: bench_hnsw_indexes
-- The models' HNSW indexes (the benchmark waits for them).
SELECT indexname FROM pg_indexes WHERE schemaname = 'rag' AND indexname LIKE 'chunk_embeddings_hnsw_%';

-- name: bench_vacuum
-- VACUUM (ANALYZE) the whole database after a load, as autovacuum would.
VACUUM (ANALYZE);

-- name: bench_checkpoint
-- Write a load's pages out now, as the checkpointer would within minutes, rather than during a measurement.
CHECKPOINT;

-- name: bench_reference_search
-- The Supabase documentation's hybrid search, the benchmark's reference.
SELECT * FROM public.reference_hybrid_search($1, $2, 10);

-- name: bench_model_indexed
-- Whether the model's vector index is built (not deferred any more).
SELECT NOT index_deferred FROM rag.embedding_models WHERE name = $1;

-- name: bench_embedded_count
-- How many chunk vectors the tenant has.
SELECT count(*) FROM rag.chunk_embeddings;

-- name: bench_documents_bare
-- Documents without text for the raw COPY comparison (their chunks are copied in).
INSERT INTO rag.documents (tenant_id, external_id, title, source, content, content_hash)
SELECT 'rawcopy', k.e, '', 'bench', 'x', '' FROM unnest($1::text[]) WITH ORDINALITY AS k(e, n)
ORDER BY k.n RETURNING id;

-- name: bench_instance_add
-- A scratch Odoo instance for the webhook benchmark.
INSERT INTO odoo.instances (name, base_url, database) VALUES ('bench', 'http://odoo', 'odoo') RETURNING id;

-- name: bench_instance_secret
-- Its webhook secret (in plain text: the service moves it into the vault at start).
INSERT INTO odoo.instance_secrets (instance_id, secret) VALUES ($1, $2);

-- name: bench_events_stored
-- How many webhook events were stored.
SELECT count(*) FROM odoo.webhook_events;

-- name: bench_catalog_analyze
-- Fresh statistics after the catalog's bulk registration.
VACUUM ANALYZE catalog.assets, catalog.names;

-- name: eval_analyze
-- Fresh statistics after an evaluation corpus is loaded.
ANALYZE rag.postings, rag.term_stats, rag.chunks, rag.chunk_embeddings;

-- name: documents_by_key
-- The first of the tenant's documents of a source with these external ids (an upload would replace it).
SELECT d.id FROM rag.documents AS d
 WHERE d.tenant_id = $1 AND d.source = $2 AND d.external_id = ANY($3::text[])
 ORDER BY d.id
 LIMIT 1;

-- name: answer_record
-- An answer the assistant gave (declined ones too), with what it cited and what retrieval found.
INSERT INTO rag.answers (tenant_id, question, search_query, answer, grounded, model, citations, retrieved)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id;

-- name: feedback_add
-- A rating (+1 or -1) and an optional comment on one of the tenant's answers; nothing when it has no such answer.
INSERT INTO rag.feedback (tenant_id, answer_id, rating, comment, user_id)
SELECT $1, a.id, $3, $4, $5 FROM rag.answers AS a WHERE a.id = $2 AND a.tenant_id = $1
RETURNING id, created_at;

-- name: feedback_page
-- The tenant's feedback, newest first (optionally only one rating), with the answer it rates.
SELECT f.id, f.answer_id, f.rating, f.comment, f.user_id, f.created_at, a.question, a.answer, a.grounded,
       a.citations, a.retrieved
  FROM rag.feedback AS f
  JOIN rag.answers AS a ON a.id = f.answer_id
 WHERE f.tenant_id = $1 AND ($2::smallint IS NULL OR f.rating = $2) AND ($3::bigint IS NULL OR f.id < $3)
 ORDER BY f.id DESC
 LIMIT $4;

-- name: unanswered_page
-- What writers should look at, newest first: declined questions and answers rated down, with what retrieval found.
SELECT a.id AS answer_id, a.question, a.answer, a.grounded, a.retrieved, a.created_at,
       (SELECT f.comment FROM rag.feedback AS f WHERE f.answer_id = a.id AND f.rating < 0 ORDER BY f.id DESC
        LIMIT 1) AS comment
  FROM rag.answers AS a
 WHERE a.tenant_id = $1 AND ($2::bigint IS NULL OR a.id < $2)
   AND (NOT a.grounded OR EXISTS (SELECT 1 FROM rag.feedback AS f WHERE f.answer_id = a.id AND f.rating < 0))
 ORDER BY a.id DESC
 LIMIT $3;

-- name: service_metrics
-- Jobs per queue and state (and the oldest due one's age), the lexical backlog, across tenants (SECURITY DEFINER).
SELECT queue, status, jobs, oldest_due_seconds FROM rag.service_metrics_v1();

-- name: routes_list
-- The tenant's routes, by name.
SELECT name, source, event_type, aggregate_type, predicate, url, format, severity, quiet_seconds, enabled,
       created_at, updated_at
  FROM odoo.routes ORDER BY name;

-- name: route_put
-- Create or replace a route of the tenant: the route as stored, and whether it is new.
INSERT INTO odoo.routes (tenant_id, name, source, event_type, aggregate_type, predicate, url, enabled, format,
                         severity, quiet_seconds)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (tenant_id, name) DO UPDATE
SET source = excluded.source, event_type = excluded.event_type, aggregate_type = excluded.aggregate_type,
    predicate = excluded.predicate, url = excluded.url, enabled = excluded.enabled, format = excluded.format,
    severity = excluded.severity, quiet_seconds = excluded.quiet_seconds, updated_at = now()
RETURNING name, source, event_type, aggregate_type, predicate, url, format, severity, quiet_seconds, enabled,
          created_at, updated_at, (xmax = 0) AS inserted;

-- name: route_delete
-- Delete a route of the tenant (its deliveries keep their record).
DELETE FROM odoo.routes WHERE name = $1 RETURNING id;

-- name: routes_matching
-- The enabled routes an event matches: its source, its event type and aggregate type (or '*'), a payload that
-- contains the route's predicate.
SELECT id, name, url, format, severity, quiet_seconds FROM odoo.routes
 WHERE enabled AND source = $1 AND event_type IN ($2, '*') AND aggregate_type IN ($3, '*') AND $4::jsonb @> predicate
 ORDER BY name;

-- name: route_delivery_add
-- One delivery of an event (of a ledger: webhook or system) along a route; nothing when the route already has
-- it (exactly once), or when the route is quiet: it delivered the same fingerprint within its quiet period.
INSERT INTO odoo.route_deliveries (tenant_id, route_id, route_name, ledger, event_row, fingerprint, delivery_id, url)
SELECT $1, $2, $3, $4, $5, $6, $7, $8
 WHERE $9::integer = 0 OR NOT EXISTS (
       SELECT FROM odoo.route_deliveries AS d
        WHERE d.route_id = $2 AND d.fingerprint = $6 AND d.created_at > now() - make_interval(secs => $9))
ON CONFLICT (route_id, ledger, event_row) DO NOTHING
RETURNING id;

-- name: route_delivery_result
-- What the receiver answered (or why the delivery failed), after an attempt.
UPDATE odoo.route_deliveries
   SET status = $2, attempts = attempts + 1, response_status = $3, error = $4,
       delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END
 WHERE delivery_id = $1;

-- name: route_deliveries
-- The tenant's latest deliveries, newest first (optionally of one route).
SELECT id, route_name, event_row, delivery_id::text AS delivery_id, url, status, attempts, response_status, error,
       created_at, delivered_at
  FROM odoo.route_deliveries WHERE ($1::text IS NULL OR route_name = $1) ORDER BY id DESC LIMIT $2;

-- name: route_delivery_dead_job
-- The dead-lettered outbound job of a delivery.
SELECT j.id FROM rag.jobs AS j
 WHERE j.queue = $1 AND j.status = 'dead' AND j.payload ->> 'delivery' = $2
 ORDER BY j.id DESC LIMIT 1;

-- name: system_event
-- One event the database raised (a watched table's change, schema-changed, a monitor's finding).
SELECT id, tenant_id, source, event_type, aggregate_type, payload FROM odoo.system_events WHERE id = $1;

-- name: system_event_emit
-- Raise an event of the tenant, when a route could take it (with its processing job); its id or null.
SELECT odoo.emit_system_event_v1($1, $2, $3, $4, $5);

-- name: operator_tenant
-- Record the tenant that receives the service's own events (DEFAULT_TENANT).
INSERT INTO odoo.operator (default_tenant) VALUES ($1)
ON CONFLICT (only_row) DO UPDATE SET default_tenant = excluded.default_tenant;

-- name: monitor_state
-- What a monitor saw last for the tenant.
SELECT fingerprint FROM odoo.monitor_state WHERE monitor = $1;

-- name: monitor_state_set
-- What a monitor sees now.
INSERT INTO odoo.monitor_state (tenant_id, monitor, fingerprint) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, monitor) DO UPDATE SET fingerprint = excluded.fingerprint, changed_at = now();

-- name: replica_lag
-- On a read replica: whether it is a standby, and how far its replay is behind (0 when it replayed all it received).
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag;

-- name: app_role_login_claim
-- The service role's password: the one stored, or this new one stored now (the first process to start wins).
WITH claimed AS (
    INSERT INTO control_plane.app_role_login (password) VALUES ($1) ON CONFLICT (only_row) DO NOTHING RETURNING password
)
SELECT password FROM claimed UNION ALL SELECT password FROM control_plane.app_role_login
LIMIT 1;

-- name: app_role_login
-- The service role's stored password.
SELECT password FROM control_plane.app_role_login;

-- name: term_frequencies
-- How many of the tenant's chunks hold each word $2 (its lexeme, in the language of the corpus where it is most
-- used), how many chunks the tenant has, and, for a word no chunk holds, the nearest terms of the vocabulary (by
-- trigrams: a misspelt word is near the one meant).
SELECT w.word, f.lexeme, f.df, (SELECT coalesce(sum(chunk_count), 0) FROM rag.corpus_stats WHERE tenant_id = $1) AS chunks,
       CASE WHEN f.df = 0 THEN ARRAY(SELECT t.lexeme FROM rag.term_stats AS t
                                      WHERE t.tenant_id = $1 AND t.language = f.language AND t.lexeme % f.lexeme
                                      ORDER BY similarity(t.lexeme, f.lexeme) DESC, t.lexeme LIMIT 20) END AS near
  FROM unnest($2::text[]) AS w(word)
 CROSS JOIN LATERAL (
       SELECT s.language, l.lexeme, coalesce(t.df, 0) AS df
         FROM rag.corpus_stats AS s
        CROSS JOIN LATERAL (SELECT coalesce((tsvector_to_array(to_tsvector(s.language, w.word)))[1], w.word)
                                   AS lexeme) AS l
         LEFT JOIN rag.term_stats AS t ON t.tenant_id = s.tenant_id AND t.language = s.language AND t.lexeme = l.lexeme
        WHERE s.tenant_id = $1
        ORDER BY coalesce(t.df, 0) DESC, s.chunk_count DESC LIMIT 1) AS f;

-- name: search_stages
-- The milliseconds of each stage of the transaction's last hybrid search (terms, vector, lexical, trigram, fusion).
SELECT current_setting('ipai.search_stages_ms', true);

-- name: storage_buckets
-- A tenant's buckets with their effective settings ($2: the default object size limit).
SELECT k.name, k.description, k.public,
       coalesce(b.max_object_bytes, $2::bigint) AS max_object_bytes,
       coalesce(b.content_types, k.content_types) AS content_types,
       CASE WHEN b.retention_days IS NULL THEN k.retention_days ELSE nullif(b.retention_days, 0) END AS retention_days
  FROM storage.bucket_kinds AS k
  LEFT JOIN storage.buckets AS b ON b.name = k.name AND b.tenant_id = $1
 ORDER BY k.name;

-- name: storage_bucket_kinds
SELECT array_agg(name ORDER BY name) FROM storage.bucket_kinds;

-- name: storage_bucket_set
-- A tenant's own settings of a bucket (NULL = the default; retention 0 = kept until deleted).
INSERT INTO storage.buckets (tenant_id, name, max_object_bytes, content_types, retention_days)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, name) DO UPDATE
   SET max_object_bytes = EXCLUDED.max_object_bytes, content_types = EXCLUDED.content_types,
       retention_days = EXCLUDED.retention_days, updated_at = now();

-- name: storage_blob_lock
-- Serialises writing a blob's row with removing the blob (equal bytes share one blob in the file backend).
SELECT pg_advisory_xact_lock(hashtextextended('storage:' || $1, 0));

-- name: storage_blob_in_use
SELECT storage.blob_in_use_v1($1);

-- name: storage_object_lock
-- The blob of the object a write is about to replace (locked until the write commits).
SELECT blob FROM storage.objects WHERE tenant_id = $1 AND bucket = $2 AND key = $3 FOR UPDATE;

-- name: storage_object_put
-- Store an object's row, replacing the key's previous object.
INSERT INTO storage.objects AS o (tenant_id, bucket, key, size, content_type, sha256, blob, uploader, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, bucket, key) DO UPDATE
   SET size = EXCLUDED.size, content_type = EXCLUDED.content_type, sha256 = EXCLUDED.sha256,
       blob = EXCLUDED.blob, uploader = EXCLUDED.uploader, metadata = EXCLUDED.metadata, updated_at = now()
RETURNING o.*, (o.xmax = 0) AS created;

-- name: storage_object
SELECT * FROM storage.objects WHERE tenant_id = $1 AND bucket = $2 AND key = $3;

-- name: storage_object_by_id
SELECT * FROM storage.objects WHERE id = $1;

-- name: storage_objects_page
-- A bucket's objects whose key starts with $3, after the key $4, in key order.
SELECT * FROM storage.objects
 WHERE tenant_id = $1 AND bucket = $2 AND starts_with(key, $3) AND key > $4
 ORDER BY key
 LIMIT $5;

-- name: storage_object_delete
DELETE FROM storage.objects WHERE tenant_id = $1 AND bucket = $2 AND key = $3 RETURNING *;

-- name: storage_objects_delete_ids
DELETE FROM storage.objects WHERE id = ANY($1::bigint[]) RETURNING blob;

-- name: storage_expire
-- Objects past their bucket's retention, in every tenant (SECURITY DEFINER).
SELECT * FROM storage.expire_v1($1);

-- name: storage_objects_tagged
-- A bucket's objects whose metadata contains $3 (e.g. the Odoo attachment they hold).
SELECT * FROM storage.objects WHERE tenant_id = $1 AND bucket = $2 AND metadata @> $3::jsonb;

-- name: odoo_document_delete_by_key
DELETE FROM rag.documents WHERE tenant_id = $1 AND source = $2 AND external_id = $3;
