-- Events the database itself raises, routed like the webhooks (source 'database' or 'schedule'): the changes of
-- watched tables (each statement's inserted, updated or deleted keys, by tenant), DDL on the service's schemas
-- (schema-changed) and the monitors' findings (drift, health). An event is written only when a route of its
-- tenant could take it; its processing job is enqueued in the same transaction (the queue's workers take it:
-- nothing polls the watched tables).
CREATE TABLE odoo.system_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL,
    source          text NOT NULL CHECK (source IN ('database', 'schedule')),
    event_type      text NOT NULL,
    aggregate_type  text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX system_events_recent ON odoo.system_events (tenant_id, id DESC);
ALTER TABLE odoo.system_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE odoo.system_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON odoo.system_events
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT ON odoo.system_events TO ipai_app;
GRANT USAGE, SELECT ON SEQUENCE odoo.system_events_id_seq TO ipai_app;

-- The tenant that receives the service's own events (schema-changed): DEFAULT_TENANT, recorded at start.
CREATE TABLE odoo.operator (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    default_tenant  text NOT NULL
);
GRANT SELECT ON odoo.operator TO ipai_app;

-- What the monitors saw last (a finding is an event when it changes, not at every run).
CREATE TABLE odoo.monitor_state (
    tenant_id    text NOT NULL,
    monitor      text NOT NULL,
    fingerprint  text NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, monitor)
);
ALTER TABLE odoo.monitor_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE odoo.monitor_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON odoo.monitor_state
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT, UPDATE ON odoo.monitor_state TO ipai_app;

ALTER TABLE odoo.scheduled_jobs DROP CONSTRAINT scheduled_jobs_action_check;
ALTER TABLE odoo.scheduled_jobs ADD CONSTRAINT scheduled_jobs_action_check
    CHECK (action IN ('webhook', 'cleanup', 'drift', 'health') OR action LIKE 'pull:%');
INSERT INTO odoo.scheduled_jobs (name, cron, action) VALUES
    ('drift-detector', '*/30 * * * *', 'drift'),
    ('health-probe', '*/5 * * * *', 'health');

-- One event and its processing job, when a route of the tenant could take it (SECURITY DEFINER: a trigger
-- writes it whoever changed the table).
CREATE FUNCTION odoo.emit_system_event_v1(p_tenant text, p_source text, p_type text, p_aggregate text,
                                          p_payload jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM odoo.routes AS r
                    WHERE r.tenant_id = p_tenant AND r.enabled AND r.source = p_source
                      AND r.event_type IN (p_type, '*') AND r.aggregate_type IN (p_aggregate, '*')) THEN
        RETURN NULL;
    END IF;
    INSERT INTO odoo.system_events (tenant_id, source, event_type, aggregate_type, payload)
    VALUES (p_tenant, p_source, p_type, p_aggregate, p_payload) RETURNING id INTO v_id;
    INSERT INTO rag.jobs (tenant_id, queue, kind, payload, max_attempts)
    VALUES (p_tenant, 'odoo', 'system_event', jsonb_build_object('system_event', v_id), 5);
    RETURN v_id;
END
$$;

-- A watched table's statement: one 'database' event per tenant it touched, with the keys (TG_ARGV[0] names the
-- key column) - new ones for insert and update, old ones for update and delete; at most 1,000 of each.
CREATE FUNCTION odoo.table_changed_v1()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key   text := TG_ARGV[0];
    v_table text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    v_op    text := lower(TG_OP);
    r       record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR r IN SELECT n.tenant_id, count(*) AS n, jsonb_path_query_array(jsonb_agg(to_jsonb(n) -> v_key), '$[0 to 999]') AS keys
                   FROM new_rows AS n GROUP BY n.tenant_id LOOP
            PERFORM odoo.emit_system_event_v1(r.tenant_id, 'database', v_op, v_table,
                jsonb_build_object('table', v_table, 'op', v_op, 'rows', r.n, 'keys', r.keys));
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR r IN SELECT n.tenant_id, count(*) AS n, jsonb_path_query_array(jsonb_agg(to_jsonb(n) -> v_key), '$[0 to 999]') AS keys,
                        (SELECT jsonb_path_query_array(jsonb_agg(to_jsonb(o) -> v_key), '$[0 to 999]') FROM old_rows AS o
                          WHERE o.tenant_id = n.tenant_id) AS old_keys
                   FROM new_rows AS n GROUP BY n.tenant_id LOOP
            PERFORM odoo.emit_system_event_v1(r.tenant_id, 'database', v_op, v_table,
                jsonb_build_object('table', v_table, 'op', v_op, 'rows', r.n, 'keys', r.keys, 'old_keys', r.old_keys));
        END LOOP;
    ELSE
        FOR r IN SELECT o.tenant_id, count(*) AS n, jsonb_path_query_array(jsonb_agg(to_jsonb(o) -> v_key), '$[0 to 999]') AS old_keys
                   FROM old_rows AS o GROUP BY o.tenant_id LOOP
            PERFORM odoo.emit_system_event_v1(r.tenant_id, 'database', v_op, v_table,
                jsonb_build_object('table', v_table, 'op', v_op, 'rows', r.n, 'old_keys', r.old_keys));
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER assets_inserted AFTER INSERT ON catalog.assets REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('fqdn');
CREATE TRIGGER assets_updated AFTER UPDATE ON catalog.assets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('fqdn');
CREATE TRIGGER assets_deleted AFTER DELETE ON catalog.assets REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('fqdn');
CREATE TRIGGER documents_inserted AFTER INSERT ON rag.documents REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('id');
CREATE TRIGGER documents_updated AFTER UPDATE ON rag.documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('id');
CREATE TRIGGER documents_deleted AFTER DELETE ON rag.documents REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION odoo.table_changed_v1('id');

-- schema-changed: one event per DDL statement on the service's schemas, for the operator's tenant.
CREATE FUNCTION odoo.schema_changed_v1()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_objects jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('type', c.object_type, 'identity', c.object_identity))
      INTO v_objects
      FROM pg_event_trigger_ddl_commands() AS c
     WHERE c.schema_name IN ('rag', 'odoo', 'catalog', 'control_plane', 'odoo_seed');
    IF v_objects IS NOT NULL THEN
        PERFORM odoo.emit_system_event_v1(coalesce((SELECT o.default_tenant FROM odoo.operator AS o), 'default'),
                                          'database', 'schema-changed', 'schema',
                                          jsonb_build_object('command', tg_tag, 'objects', v_objects));
    END IF;
END
$$;

-- An event trigger needs a superuser (the embedded server's owner is one; a managed server's may not be).
DO $$
BEGIN
    CREATE EVENT TRIGGER ipai_schema_changed ON ddl_command_end EXECUTE FUNCTION odoo.schema_changed_v1();
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'schema-changed events need a superuser to create their event trigger: skipped';
END
$$;

REVOKE ALL ON FUNCTION odoo.emit_system_event_v1(text, text, text, text, jsonb), odoo.table_changed_v1(),
    odoo.schema_changed_v1() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION odoo.emit_system_event_v1(text, text, text, text, jsonb) TO ipai_app;
