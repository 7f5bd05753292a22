-- The Odoo bridge: instances and their webhook secrets, the event ledger, sync cursors, entity
-- mappings, an append-only audit log; shadow snapshots and the seed they are verified against.
CREATE SCHEMA IF NOT EXISTS odoo;
CREATE SCHEMA IF NOT EXISTS odoo_seed;

CREATE TABLE odoo.instances (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT 'default',
    name        text NOT NULL UNIQUE,
    base_url    text NOT NULL,
    database    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- More than one secret may be active while a secret is rotated.
CREATE TABLE odoo.instance_secrets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id  bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id    text NOT NULL DEFAULT 'default',
    secret       text NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_secrets_active ON odoo.instance_secrets (instance_id) WHERE active;

CREATE TABLE odoo.webhook_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id     bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id       text NOT NULL DEFAULT 'default',
    source          text NOT NULL DEFAULT 'odoo' CHECK (source IN ('odoo', 'github')),
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    CONSTRAINT webhook_events_once UNIQUE (instance_id, event_id)
);
CREATE INDEX webhook_events_status ON odoo.webhook_events (status, id);

CREATE TABLE odoo.sync_cursors (
    instance_id      bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id        text NOT NULL DEFAULT 'default',
    model            text NOT NULL,
    last_write_date  timestamptz NOT NULL,
    last_id          bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, model)
);

-- A cursor only ever moves forward: (write_date, id) must not decrease.
CREATE FUNCTION odoo.cursor_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.last_write_date, NEW.last_id) < (OLD.last_write_date, OLD.last_id) THEN
        RAISE EXCEPTION 'sync cursor of % would move back from (%, %) to (%, %)', OLD.model,
            OLD.last_write_date, OLD.last_id, NEW.last_write_date, NEW.last_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sync_cursors_forward BEFORE UPDATE ON odoo.sync_cursors
    FOR EACH ROW EXECUTE FUNCTION odoo.cursor_forward();

CREATE TABLE odoo.entity_mappings (
    instance_id   bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL DEFAULT 'default',
    odoo_model    text NOT NULL,
    odoo_id       bigint NOT NULL,
    local_kind    text NOT NULL,
    local_id      text NOT NULL,
    external_ref  text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, odoo_model, odoo_id)
);

-- Append-only: every receipt, rejection and status change, with the reason and where it came from.
CREATE TABLE odoo.event_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text NOT NULL DEFAULT 'default',
    instance_id  bigint,
    event_row    bigint,
    kind         text NOT NULL CHECK (kind IN ('received', 'duplicate', 'rejected', 'status')),
    status       text,
    reason       text,
    remote_addr  text,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION odoo.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON odoo.event_log
    FOR EACH ROW EXECUTE FUNCTION odoo.append_only();

-- Shadow snapshots: what Odoo says, kept for verification. write_date guards against out-of-order
-- delivery: an older write never replaces a newer snapshot.
CREATE TABLE odoo_seed.shadow_projects (
    instance_id   bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL DEFAULT 'default',
    odoo_id       bigint NOT NULL,
    external_ref  text,
    name          text NOT NULL,
    previous_name text,
    write_date    timestamptz NOT NULL,
    synced_at     timestamptz NOT NULL DEFAULT now(),
    raw           jsonb NOT NULL,
    PRIMARY KEY (instance_id, odoo_id)
);

CREATE TABLE odoo_seed.shadow_tasks (
    instance_id      bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id        text NOT NULL DEFAULT 'default',
    odoo_id          bigint NOT NULL,
    external_ref     text,
    project_odoo_id  bigint,
    name             text NOT NULL,
    previous_name    text,
    write_date       timestamptz NOT NULL,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    raw              jsonb NOT NULL,
    PRIMARY KEY (instance_id, odoo_id)
);

CREATE TABLE odoo_seed.shadow_moves (
    instance_id   bigint NOT NULL REFERENCES odoo.instances (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL DEFAULT 'default',
    odoo_id       bigint NOT NULL,
    name          text NOT NULL,
    move_type     text,
    state         text,
    amount_total  numeric,
    partner       text,
    write_date    timestamptz NOT NULL,
    synced_at     timestamptz NOT NULL DEFAULT now(),
    raw           jsonb NOT NULL,
    PRIMARY KEY (instance_id, odoo_id)
);

-- The expected state (loaded by `ipai-rag sync seed FILE`), matched to shadows by external_ref.
CREATE TABLE odoo_seed.seed_projects (
    tenant_id     text NOT NULL DEFAULT 'default',
    external_ref  text NOT NULL,
    name          text NOT NULL,
    PRIMARY KEY (tenant_id, external_ref)
);

CREATE TABLE odoo_seed.seed_tasks (
    tenant_id     text NOT NULL DEFAULT 'default',
    external_ref  text NOT NULL,
    project_ref   text,
    name          text NOT NULL,
    PRIMARY KEY (tenant_id, external_ref)
);

CREATE VIEW odoo_seed.v_missing_in_odoo AS
    SELECT s.tenant_id, 'project' AS kind, s.external_ref, s.name AS seed_name
      FROM odoo_seed.seed_projects AS s
     WHERE NOT EXISTS (SELECT 1 FROM odoo_seed.shadow_projects AS p
                        WHERE p.tenant_id = s.tenant_id AND p.external_ref = s.external_ref)
    UNION ALL
    SELECT s.tenant_id, 'task', s.external_ref, s.name
      FROM odoo_seed.seed_tasks AS s
     WHERE NOT EXISTS (SELECT 1 FROM odoo_seed.shadow_tasks AS t
                        WHERE t.tenant_id = s.tenant_id AND t.external_ref = s.external_ref);

CREATE VIEW odoo_seed.v_orphan_in_odoo AS
    SELECT p.tenant_id, 'project' AS kind, p.external_ref, p.odoo_id, p.name AS odoo_name
      FROM odoo_seed.shadow_projects AS p
     WHERE NOT EXISTS (SELECT 1 FROM odoo_seed.seed_projects AS s
                        WHERE s.tenant_id = p.tenant_id AND s.external_ref = p.external_ref)
    UNION ALL
    SELECT t.tenant_id, 'task', t.external_ref, t.odoo_id, t.name
      FROM odoo_seed.shadow_tasks AS t
     WHERE NOT EXISTS (SELECT 1 FROM odoo_seed.seed_tasks AS s
                        WHERE s.tenant_id = t.tenant_id AND s.external_ref = t.external_ref);

-- Names that differ between seed and shadow, or that changed between sync cycles.
CREATE VIEW odoo_seed.v_name_drift AS
    SELECT p.tenant_id, 'project' AS kind, p.external_ref, p.odoo_id, s.name AS seed_name, p.name AS odoo_name,
           p.previous_name, CASE WHEN s.name IS DISTINCT FROM p.name THEN 'seed' ELSE 'sync' END AS drift
      FROM odoo_seed.shadow_projects AS p
      LEFT JOIN odoo_seed.seed_projects AS s ON s.tenant_id = p.tenant_id AND s.external_ref = p.external_ref
     WHERE (s.name IS NOT NULL AND s.name IS DISTINCT FROM p.name)
        OR (p.previous_name IS NOT NULL AND p.previous_name IS DISTINCT FROM p.name)
    UNION ALL
    SELECT t.tenant_id, 'task', t.external_ref, t.odoo_id, s.name, t.name, t.previous_name,
           CASE WHEN s.name IS DISTINCT FROM t.name THEN 'seed' ELSE 'sync' END
      FROM odoo_seed.shadow_tasks AS t
      LEFT JOIN odoo_seed.seed_tasks AS s ON s.tenant_id = t.tenant_id AND s.external_ref = t.external_ref
     WHERE (s.name IS NOT NULL AND s.name IS DISTINCT FROM t.name)
        OR (t.previous_name IS NOT NULL AND t.previous_name IS DISTINCT FROM t.name);
