-- Control plane: API keys (hashed), the secrets vault (ciphertext only; the key never enters the
-- database), the bots that may read secrets, and an append-only audit of every secret access.
CREATE SCHEMA IF NOT EXISTS control_plane;

CREATE TABLE control_plane.api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    name        text NOT NULL DEFAULT '',
    prefix      text NOT NULL UNIQUE,
    key_hash    text NOT NULL,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row per version of a secret; the row id is bound into the AES-GCM tag as associated data, so a
-- ciphertext copied into another row does not decrypt. Old versions stay readable until retired.
CREATE TABLE control_plane.secrets (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT 'default',
    name        text NOT NULL,
    version     integer NOT NULL,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    CONSTRAINT secrets_version UNIQUE (tenant_id, name, version)
);

CREATE TABLE control_plane.bot_registry (
    bot_id           text PRIMARY KEY,
    tenant_id        text NOT NULL DEFAULT 'default',
    description      text NOT NULL DEFAULT '',
    allowed_secrets  text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control_plane.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text NOT NULL DEFAULT 'default',
    bot_id       text NOT NULL,
    secret_name  text NOT NULL,
    access_type  text NOT NULL,
    allowed      boolean NOT NULL,
    remote_addr  text,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON control_plane.audit_log
    FOR EACH ROW EXECUTE FUNCTION odoo.append_only();

-- The only read path for secret values: the audit row is written first, in the same transaction; if it
-- cannot be written, nothing is returned. A refused read (unknown bot, secret not allowed) is audited
-- and returns no rows.
CREATE FUNCTION control_plane.control_plane_get_secret_logged(
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
    VALUES (coalesce(v_tenant, 'unknown'), p_bot_id, p_secret_name,
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
