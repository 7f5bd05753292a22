-- Event routing (workflow-trigger) and alerting: a tenant's routes match the events the bridge receives or the
-- database raises - by source, event type, aggregate type and a JSON document the payload must contain - and
-- each match becomes one signed outbound delivery through the outbound queue (retries, backoff, dead letter,
-- replay), recorded here with the receiver's answer. A route with a quiet period sends one delivery per event
-- fingerprint (type and aggregate) in that period, so a flapping check alerts once; format slack posts a Slack
-- incoming-webhook message.
CREATE TABLE odoo.routes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    source          text NOT NULL CHECK (source IN ('odoo', 'github', 'database', 'schedule')),
    event_type      text NOT NULL DEFAULT '*',
    aggregate_type  text NOT NULL DEFAULT '*',
    predicate       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(predicate) = 'object'),
    url             text NOT NULL,
    format          text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
    severity        text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    quiet_seconds   integer NOT NULL DEFAULT 0 CHECK (quiet_seconds BETWEEN 0 AND 604800),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT routes_tenant_name UNIQUE (tenant_id, name)
);
CREATE INDEX routes_match ON odoo.routes (tenant_id, source) WHERE enabled;

CREATE TABLE odoo.route_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        text NOT NULL,
    route_id         bigint REFERENCES odoo.routes (id) ON DELETE SET NULL,
    route_name       text NOT NULL,
    ledger           text NOT NULL DEFAULT 'webhook' CHECK (ledger IN ('webhook', 'system')),
    event_row        bigint NOT NULL,
    fingerprint      text NOT NULL DEFAULT '',
    delivery_id      uuid NOT NULL UNIQUE,
    url              text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    response_status  integer,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT route_deliveries_once UNIQUE (route_id, ledger, event_row)
);
CREATE INDEX route_deliveries_recent ON odoo.route_deliveries (tenant_id, id DESC);
CREATE INDEX route_deliveries_quiet ON odoo.route_deliveries (route_id, fingerprint, created_at DESC);

ALTER TABLE odoo.routes ENABLE ROW LEVEL SECURITY;
ALTER TABLE odoo.routes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON odoo.routes
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
ALTER TABLE odoo.route_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE odoo.route_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON odoo.route_deliveries
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON odoo.routes TO ipai_app;
GRANT SELECT, INSERT, UPDATE ON odoo.route_deliveries TO ipai_app;
GRANT USAGE, SELECT ON SEQUENCE odoo.routes_id_seq, odoo.route_deliveries_id_seq TO ipai_app;
