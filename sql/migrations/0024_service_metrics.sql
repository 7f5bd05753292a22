-- What /metrics reports of the work every tenant shares the service's capacity for: jobs per queue and state,
-- the age of the oldest due job per queue, the chunks waiting for BM25 indexing. Counts and ages only, no
-- tenant content; SECURITY DEFINER with a fixed search_path, executable by the service role alone.
CREATE FUNCTION rag.service_metrics_v1()
RETURNS TABLE (queue text, status text, jobs bigint, oldest_due_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.queue, j.status, count(*),
           coalesce(extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.status = 'pending' AND j.run_at <= now())), 0)::float8
      FROM rag.jobs AS j
     GROUP BY j.queue, j.status
    UNION ALL
    SELECT 'lexical-backlog', 'waiting', count(*), coalesce(extract(epoch FROM now() - min(b.created_at)), 0)::float8
      FROM rag.lexical_backlog AS b
$$;

REVOKE ALL ON FUNCTION rag.service_metrics_v1() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.service_metrics_v1() TO ipai_app;
