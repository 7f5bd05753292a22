-- Odoo instance names and bot ids belong to their tenant: two tenants may use the same name, and one tenant
-- can neither learn another's names (from a conflict) nor claim a name before it. A webhook names its tenant
-- beside the instance (x-ipai-tenant, default the server's tenant), so the cross-tenant lookup goes.
ALTER TABLE odoo.instances DROP CONSTRAINT instances_name_key;
ALTER TABLE odoo.instances ADD CONSTRAINT instances_tenant_name UNIQUE (tenant_id, name);

ALTER TABLE control_plane.bot_registry DROP CONSTRAINT bot_registry_pkey;
ALTER TABLE control_plane.bot_registry ADD CONSTRAINT bot_registry_pkey PRIMARY KEY (tenant_id, bot_id);

DROP FUNCTION odoo.instance_tenant_v1(text);

-- The secret read path: the bot is the caller's tenant's (named here, not only by the row policy).
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
      FROM control_plane.bot_registry AS b WHERE b.bot_id = p_bot_id AND b.tenant_id = rag.current_tenant();
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
