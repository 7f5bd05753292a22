-- The job queue: leases, SKIP LOCKED claims, retries with backoff, dead letter, replay.
CREATE TABLE rag.jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text NOT NULL DEFAULT 'default',
    queue        text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'done', 'dead')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    lease_until  timestamptz,
    last_error   text,
    dedupe_key   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX jobs_claimable ON rag.jobs (queue, run_at, id) WHERE status = 'pending';
CREATE INDEX jobs_leased ON rag.jobs (queue, lease_until) WHERE status = 'running';
CREATE INDEX jobs_status ON rag.jobs (status, queue);
-- At most one waiting job per dedupe key (e.g. one embedding job per document and model);
-- a job already running does not block a new one for changes it may not have seen.
CREATE UNIQUE INDEX jobs_dedupe ON rag.jobs (queue, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status = 'pending';
