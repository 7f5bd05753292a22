-- Whether a job of the same queue and dedupe key as the given one is waiting (pending): a failed or replayed job
-- then steps aside, as that one does the work on the newer state (sql/queries.sql: job_fail, job_replay).
CREATE FUNCTION rag.job_twin_waiting_v1(p_job bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM rag.jobs AS j JOIN rag.jobs AS t ON t.queue = j.queue AND t.dedupe_key = j.dedupe_key
                    WHERE j.id = p_job AND t.status = 'pending')
$$;
REVOKE ALL ON FUNCTION rag.job_twin_waiting_v1(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.job_twin_waiting_v1(bigint) TO ipai_app;
