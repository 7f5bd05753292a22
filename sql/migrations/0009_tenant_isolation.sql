-- Tenant isolation: the service's own login role (not a superuser, no BYPASSRLS, owns nothing), row-level
-- security enabled and FORCED on every table holding tenant data, and the few cross-tenant operations
-- (claiming queue work, finding a key's or a webhook's tenant, retention) as SECURITY DEFINER functions
-- with a fixed search_path. The tenant is per transaction: set_config('app.tenant_id', t, true).
-- Roles are cluster-wide: the role is created once and shared by every database of the cluster.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ipai_app') THEN
        CREATE ROLE ipai_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END $$;

-- The tenant of the current transaction; NULL (so every policy is false) when none was set. No SET clause
-- (names are schema-qualified instead), so the planner inlines it: a policy is then a plain stable
-- comparison, usable as an index condition and cheap in the per-row checks of bulk inserts.
CREATE FUNCTION rag.current_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(pg_catalog.current_setting('app.tenant_id', true), '') $$;

-- Enable and force RLS with one policy per table: rows of the transaction's tenant only, for reads and
-- writes alike (WITH CHECK refuses a write carrying another tenant's id).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'rag.documents', 'rag.chunks', 'rag.chunk_embeddings', 'rag.postings', 'rag.term_stats',
        'rag.corpus_stats', 'rag.jobs', 'rag.chat_sessions', 'rag.chat_messages', 'rag.realtime_events',
        'catalog.assets', 'catalog.lineage', 'catalog.names',
        'odoo.instances', 'odoo.instance_secrets', 'odoo.webhook_events', 'odoo.sync_cursors',
        'odoo.entity_mappings', 'odoo.event_log', 'odoo.scheduled_jobs',
        'odoo_seed.seed_projects', 'odoo_seed.seed_tasks', 'odoo_seed.shadow_projects',
        'odoo_seed.shadow_tasks', 'odoo_seed.shadow_moves',
        'control_plane.api_keys', 'control_plane.secrets', 'control_plane.bot_registry',
        'control_plane.audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = rag.current_tenant()) '
                       'WITH CHECK (tenant_id = rag.current_tenant())', t);
    END LOOP;
END $$;

-- Views run with the caller's rights, so the policies apply through them too.
ALTER VIEW odoo_seed.v_missing_in_odoo SET (security_invoker = true);
ALTER VIEW odoo_seed.v_orphan_in_odoo SET (security_invoker = true);
ALTER VIEW odoo_seed.v_name_drift SET (security_invoker = true);

-- What the service role may touch. rag.embedding_models is the model registry shared by all tenants (no
-- tenant data): read-only for the service, registered by the owner at start-up.
GRANT USAGE ON SCHEMA rag, catalog, odoo, odoo_seed, control_plane TO ipai_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA rag, catalog, odoo, odoo_seed TO ipai_app;
REVOKE INSERT, UPDATE, DELETE ON rag.embedding_models FROM ipai_app;
GRANT SELECT, INSERT, UPDATE ON control_plane.api_keys, control_plane.secrets, control_plane.bot_registry
    TO ipai_app;
GRANT SELECT, INSERT ON control_plane.audit_log TO ipai_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA rag, catalog, odoo, odoo_seed, control_plane TO ipai_app;
-- The event log is append-only for the service: its trigger refuses changes, and so does the grant.
REVOKE UPDATE, DELETE ON odoo.event_log FROM ipai_app;

-- The secret read path records the current tenant for an unknown bot (the audit row must pass the policy).
CREATE OR REPLACE FUNCTION control_plane.control_plane_get_secret_logged(
    p_bot_id text, p_secret_name text, p_remote text DEFAULT NULL, p_agent text DEFAULT NULL,
    p_version integer DEFAULT NULL)
RETURNS TABLE (id uuid, version integer, nonce bytea, ciphertext bytea)
LANGUAGE plpgsql
SET search_path = pg_catalog, control_plane
AS $$
DECLARE
    v_tenant text;
    v_allowed boolean;
BEGIN
    SELECT b.tenant_id, p_secret_name = ANY (b.allowed_secrets) INTO v_tenant, v_allowed
      FROM control_plane.bot_registry AS b WHERE b.bot_id = p_bot_id;
    INSERT INTO control_plane.audit_log (tenant_id, bot_id, secret_name, access_type, allowed, remote_addr, user_agent)
    VALUES (coalesce(v_tenant, rag.current_tenant(), 'unknown'), p_bot_id, p_secret_name,
            CASE WHEN v_tenant IS NULL THEN 'read:unknown-bot' WHEN v_allowed THEN 'read' ELSE 'read:denied' END,
            coalesce(v_allowed, false), p_remote, p_agent);
    IF NOT coalesce(v_allowed, false) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT s.id, s.version, s.nonce, s.ciphertext FROM control_plane.secrets AS s
         WHERE s.tenant_id = v_tenant AND s.name = p_secret_name AND s.retired_at IS NULL
           AND (p_version IS NULL OR s.version = p_version)
         ORDER BY s.version DESC LIMIT 1;
END
$$;

-- The service reading its own secrets (webhook secrets, model API keys): every active version, audited
-- as bot 'ipai-rag' in the same transaction. Runs with the caller's rights, so only the caller's tenant.
CREATE FUNCTION control_plane.service_secrets_v1(p_secret_name text)
RETURNS TABLE (id uuid, version integer, nonce bytea, ciphertext bytea)
LANGUAGE plpgsql
SET search_path = pg_catalog, control_plane
AS $$
BEGIN
    INSERT INTO control_plane.audit_log (tenant_id, bot_id, secret_name, access_type, allowed)
    VALUES (rag.current_tenant(), 'ipai-rag', p_secret_name, 'read:service', true);
    RETURN QUERY
        SELECT s.id, s.version, s.nonce, s.ciphertext FROM control_plane.secrets AS s
         WHERE s.tenant_id = rag.current_tenant() AND s.name = p_secret_name AND s.retired_at IS NULL
         ORDER BY s.version DESC;
END
$$;

-- Retrieval runs with the owner's rights. Under row-level security the planner may not push the legs'
-- non-leakproof conditions (pg_trgm's %) into their indexes, and its estimate of the policy filter turns
-- the impact-ordered postings walk into a bitmap scan and sort of every posting of a term: measured at
-- 100k chunks, lexical 6 -> 50 ms and trigram 3 -> 57 ms. So the stable name is a SECURITY DEFINER
-- wrapper that refuses any tenant but the transaction's own, and every leg of hybrid_search_v1 filters
-- by that tenant explicitly (its vectors, its vocabulary, its postings, its chunks).
CREATE OR REPLACE FUNCTION rag.hybrid_search(
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
RETURNS SETOF rag.search_hit LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    IF p_tenant_id IS DISTINCT FROM rag.current_tenant() THEN
        RAISE EXCEPTION 'search of tenant % in a transaction of tenant %', p_tenant_id,
            coalesce(rag.current_tenant(), '(none)') USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM rag.hybrid_search_v1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                                    $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26);
END
$$;

-- The catalog's fuzzy name lookup, for the same reason (pg_trgm's <% cannot use its index under RLS:
-- measured at 100k assets, p50 7 -> 531 ms): the trigram candidates among the tenant's distinct names.
-- The assets behind them are then read under the policies.
CREATE FUNCTION catalog.fuzzy_names_v1(p_query text, p_tenant_id text, p_threshold double precision,
                                       p_limit integer)
RETURNS TABLE (name text, sim real)
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF p_tenant_id IS DISTINCT FROM rag.current_tenant() THEN
        RAISE EXCEPTION 'lookup of tenant % in a transaction of tenant %', p_tenant_id,
            coalesce(rag.current_tenant(), '(none)') USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('pg_trgm.word_similarity_threshold', p_threshold::text, true);
    RETURN QUERY
        SELECT n.name, word_similarity(p_query, n.name) AS sim
          FROM catalog.names AS n
         WHERE p_query <% n.name AND n.tenant_id = p_tenant_id
         ORDER BY sim DESC, n.name
         LIMIT p_limit;
END
$$;

-- Their search_path: the catalog, then wherever the vector and pg_trgm extensions live (public here,
-- extensions on Supabase); the service role may create nothing in any of them (a lint checks).
DO $$
DECLARE
    v_path text;
BEGIN
    SELECT string_agg(DISTINCT quote_ident(n.nspname), ', ') INTO v_path
      FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
     WHERE e.extname IN ('vector', 'pg_trgm');
    EXECUTE format('ALTER FUNCTION rag.hybrid_search(vector, text, double precision, integer, text, text, '
                   'double precision, double precision, double precision, text, double precision, integer, '
                   'text[], text[], bigint[], jsonb, timestamptz, timestamptz, boolean, integer, integer, '
                   'double precision, double precision, double precision, boolean, integer) '
                   'SET search_path = pg_catalog, %s, pg_temp', v_path);
    EXECUTE format('ALTER FUNCTION catalog.fuzzy_names_v1(text, text, double precision, integer) '
                   'SET search_path = pg_catalog, %s, pg_temp', v_path);
END $$;
REVOKE ALL ON FUNCTION catalog.fuzzy_names_v1(text, text, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION catalog.fuzzy_names_v1(text, text, double precision, integer) TO ipai_app;
REVOKE ALL ON FUNCTION rag.hybrid_search_v1(vector, text, double precision, integer, text, text,
    double precision, double precision, double precision, text, double precision, integer, text[], text[],
    bigint[], jsonb, timestamptz, timestamptz, boolean, integer, integer, double precision, double precision,
    double precision, boolean, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION rag.hybrid_search(vector, text, double precision, integer, text, text,
    double precision, double precision, double precision, text, double precision, integer, text[], text[],
    bigint[], jsonb, timestamptz, timestamptz, boolean, integer, integer, double precision, double precision,
    double precision, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.hybrid_search(vector, text, double precision, integer, text, text,
    double precision, double precision, double precision, text, double precision, integer, text[], text[],
    bigint[], jsonb, timestamptz, timestamptz, boolean, integer, integer, double precision, double precision,
    double precision, boolean, integer) TO ipai_app;

-- Cross-tenant operations. Each is SECURITY DEFINER (it runs as the migration owner, which bypasses RLS:
-- a superuser, or a role with BYPASSRLS such as Supabase's postgres), has a fixed search_path, and
-- returns only what the caller needs to continue inside the right tenant's transaction.

-- Claim up to p_limit due jobs of a queue (pending, or running with an expired lease), any tenant.
CREATE FUNCTION rag.claim_jobs_v1(p_queue text, p_worker text, p_limit integer, p_lease_seconds double precision)
RETURNS TABLE (id bigint, tenant_id text, queue text, kind text, payload jsonb, attempts integer, max_attempts integer)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE rag.jobs AS j
       SET status = 'running', locked_by = p_worker, attempts = j.attempts + 1,
           lease_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
     WHERE j.id IN (
           SELECT c.id FROM rag.jobs AS c
            WHERE c.queue = p_queue
              AND ((c.status = 'pending' AND c.run_at <= now())
                   OR (c.status = 'running' AND c.lease_until < now()))
            ORDER BY c.run_at, c.id
            FOR UPDATE SKIP LOCKED
            LIMIT p_limit)
    RETURNING j.id, j.tenant_id, j.queue, j.kind, j.payload, j.attempts, j.max_attempts
$$;

-- An API key's row by its public prefix (the key's tenant is not known before this lookup).
CREATE FUNCTION control_plane.api_key_by_prefix_v1(p_prefix text)
RETURNS TABLE (id uuid, tenant_id text, key_hash text, scopes text[], revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.tenant_id, k.key_hash, k.scopes, k.revoked_at FROM control_plane.api_keys AS k
     WHERE k.prefix = p_prefix
$$;

-- The tenant an Odoo instance (named by a webhook's x-ipai-instance header) belongs to.
CREATE FUNCTION odoo.instance_tenant_v1(p_name text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.tenant_id FROM odoo.instances AS i WHERE i.name = p_name
$$;

-- Tenants with enabled scheduled jobs (the scheduler then works inside each tenant's transaction).
CREATE FUNCTION odoo.schedule_tenants_v1()
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT s.tenant_id FROM odoo.scheduled_jobs AS s WHERE s.enabled ORDER BY 1
$$;

-- Retention across tenants: realtime messages and finished jobs older than p_days (dead letters stay).
CREATE FUNCTION rag.prune_v1(p_days integer)
RETURNS TABLE (realtime_events bigint, jobs bigint)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (DELETE FROM rag.realtime_events WHERE created_at < now() - make_interval(days => p_days) RETURNING 1),
         j AS (DELETE FROM rag.jobs WHERE status = 'done' AND finished_at < now() - make_interval(days => p_days)
               RETURNING 1)
    SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM j)
$$;

-- Queue lag for the health check: counts only, no tenant data.
CREATE FUNCTION rag.queue_health_v1()
RETURNS TABLE (queue_lag_seconds double precision, jobs_waiting bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT extract(epoch FROM now() - min(j.run_at)) FROM rag.jobs AS j
                      WHERE j.status = 'pending' AND j.run_at <= now()), 0)::float8,
           (SELECT count(*) FROM rag.jobs AS j WHERE j.status IN ('pending', 'running'))
$$;

REVOKE ALL ON FUNCTION rag.claim_jobs_v1(text, text, integer, double precision),
    control_plane.api_key_by_prefix_v1(text), odoo.instance_tenant_v1(text), odoo.schedule_tenants_v1(),
    rag.prune_v1(integer), rag.queue_health_v1() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.claim_jobs_v1(text, text, integer, double precision),
    control_plane.api_key_by_prefix_v1(text), odoo.instance_tenant_v1(text), odoo.schedule_tenants_v1(),
    rag.prune_v1(integer), rag.queue_health_v1() TO ipai_app;
