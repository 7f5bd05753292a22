-- The audit tables (odoo.event_log, control_plane.audit_log) stay append-only for the service: no UPDATE or
-- DELETE grant, and the trigger refuses both to everyone else too, except inside the retention function,
-- which removes rows older than the documented retention (AUDIT_RETENTION_DAYS) from both.
-- odoo.event_log.repeated counts the rejections a row stands for: a flood of the same rejection from one
-- address is written once per window with its count, not once per request.
ALTER TABLE odoo.event_log ADD COLUMN repeated integer NOT NULL DEFAULT 1 CHECK (repeated >= 1);

CREATE OR REPLACE FUNCTION odoo.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('ipai.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION odoo.prune_audit_v1(p_days integer)
RETURNS TABLE (event_log bigint, audit_log bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ipai.audit_retention = 'on'
AS $$
BEGIN
    IF p_days < 1 THEN
        RAISE EXCEPTION 'audit retention must be at least one day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH e AS (DELETE FROM odoo.event_log WHERE created_at < now() - make_interval(days => p_days) RETURNING 1),
         a AS (DELETE FROM control_plane.audit_log WHERE created_at < now() - make_interval(days => p_days)
               RETURNING 1)
    SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM a);
END $$;

REVOKE ALL ON FUNCTION odoo.prune_audit_v1(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION odoo.prune_audit_v1(integer) TO ipai_app;

-- GitHub deliveries carry no timestamp to bound a replay: a body already received for the instance within a
-- day is the same event, whatever delivery id it comes with (odoo_github_replay).
CREATE INDEX webhook_events_github_body ON odoo.webhook_events (instance_id, md5(payload::text))
    WHERE source = 'github';
