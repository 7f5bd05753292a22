-- Realtime channels (a ledger of messages, announced with NOTIFY, so a client that reconnects with
-- Last-Event-ID gets what it missed) and the scheduled jobs that call outbound webhooks.
CREATE TABLE rag.realtime_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT 'default',
    channel     text NOT NULL CHECK (channel IN ('jobs', 'approvals', 'notifications', 'odoo-sync')),
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX realtime_events_channel ON rag.realtime_events (tenant_id, channel, id);

CREATE FUNCTION rag.realtime_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ipai_realtime', json_build_object('id', n.id, 'tenant_id', n.tenant_id, 'channel', n.channel)::text)
       FROM new_rows AS n;
    RETURN NULL;
END $$;
CREATE TRIGGER realtime_events_notify AFTER INSERT ON rag.realtime_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rag.realtime_notify();

-- odoo-sync: every status change of a webhook event.
CREATE FUNCTION odoo.event_log_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rag.realtime_events (tenant_id, channel, payload)
    SELECT n.tenant_id, 'odoo-sync', jsonb_build_object('event', n.event_row, 'kind', n.kind, 'status', n.status,
                                                        'reason', n.reason, 'at', n.created_at)
      FROM new_rows AS n WHERE n.kind = 'status';
    RETURN NULL;
END $$;
CREATE TRIGGER event_log_publish AFTER INSERT ON odoo.event_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION odoo.event_log_publish();

-- jobs: finished and dead-lettered jobs, one message per statement and queue.
CREATE FUNCTION rag.jobs_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rag.realtime_events (tenant_id, channel, payload)
    SELECT n.tenant_id, 'jobs', jsonb_build_object('queue', n.queue, 'status', n.status, 'count', count(*),
                                                   'ids', (array_agg(n.id ORDER BY n.id))[1:50])
      FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
     WHERE n.status IN ('done', 'dead') AND o.status IS DISTINCT FROM n.status
     GROUP BY n.tenant_id, n.queue, n.status;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_publish AFTER UPDATE ON rag.jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rag.jobs_publish();

CREATE TABLE odoo.scheduled_jobs (
    name         text PRIMARY KEY,
    tenant_id    text NOT NULL DEFAULT 'default',
    cron         text NOT NULL,
    timezone     text NOT NULL DEFAULT 'Asia/Manila',
    -- 'webhook' calls the outbound webhook; 'cleanup' prunes old ledgers, then calls it too;
    -- 'pull:<model>' pulls that model from every instance
    action       text NOT NULL DEFAULT 'webhook' CHECK (action IN ('webhook', 'cleanup') OR action LIKE 'pull:%'),
    webhook_url  text,
    enabled      boolean NOT NULL DEFAULT true,
    next_run_at  timestamptz,
    last_run_at  timestamptz
);
INSERT INTO odoo.scheduled_jobs (name, cron, action) VALUES
    ('compliance-alerts', '0 8 * * *', 'webhook'),
    ('reminders', '0 9 * * 1', 'webhook'),
    ('health-check', '*/15 * * * *', 'webhook'),
    ('stale-data-cleanup', '0 2 * * *', 'cleanup'),
    ('sync-odoo-modules', '30 1 * * *', 'pull:ir.module.module'),
    ('shadow-odoo-finance', '0 * * * *', 'pull:account.move');
