-- BM25 postings get one partition per tenant, each with its own two indexes (the parent has none), so
-- that a bulk load into a tenant without postings appends them to a bare heap and builds the indexes
-- once, by sorting, after the load, as 0011 does for a model's vector index. Measured on the 655k
-- postings of the ingest benchmark: keeping the two indexes up row by row took 1.74 s of the 2.08 s the
-- insert took; the bare insert took 0.34 s and building both afterwards about 0.33 s. Until the build,
-- that tenant's lexical and trigram legs read its partition without the index: slower, never wrong.
-- Every other write keeps the row-by-row upkeep. A tenant's postings walk no longer touches other
-- tenants' pages.
-- (A BRIN index by chunk would cost nearly nothing to keep up, but the delete trigger's plan then scanned
-- the whole partition: replacing one document's text took 210-255 ms instead of 7-15 ms.)
ALTER TABLE rag.postings RENAME TO postings_0001;
ALTER TABLE rag.postings_0001 DISABLE ROW LEVEL SECURITY;  -- an owner that is no superuser moves every row

-- (The NOT NULL constraints are named as 0001's were: PostgreSQL 18 would suffix names still taken.)
CREATE TABLE rag.postings (
    term_id    bigint CONSTRAINT postings_term_id_not_null NOT NULL,
    chunk_id   bigint CONSTRAINT postings_chunk_id_not_null NOT NULL,
    tenant_id  text CONSTRAINT postings_tenant_id_not_null NOT NULL,
    tf         integer CONSTRAINT postings_tf_not_null NOT NULL,
    doc_len    integer CONSTRAINT postings_doc_len_not_null NOT NULL,
    impact     real CONSTRAINT postings_impact_not_null NOT NULL
) PARTITION BY LIST (tenant_id);
ALTER TABLE rag.postings ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag.postings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rag.postings
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
-- The service reaches the partitions through the parent only (where the policy applies).
GRANT SELECT, INSERT, UPDATE, DELETE ON rag.postings TO ipai_app;

-- Tenants whose postings indexes a load has deferred, and until when its lease holds (0011's lease).
-- Owner-only: the service role has no privilege on it and reaches it through the functions below, which
-- run with the owner's rights across tenants (a policy would leave an owner without BYPASSRLS nothing).
CREATE TABLE rag.lexical_index_deferrals (
    tenant_id   text PRIMARY KEY,
    load_until  timestamptz NOT NULL
);

CREATE FUNCTION rag.postings_partition_v1(p_tenant text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 'postings_' || substr(md5(p_tenant), 1, 12) $$;

-- Builds the indexes of the tenant's partition that it lacks (the statements are no-ops otherwise).
CREATE FUNCTION rag.index_postings_partition_v1(p_tenant text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    v_name text := rag.postings_partition_v1(p_tenant);
BEGIN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON rag.%I (term_id, impact DESC) INCLUDE (chunk_id, tf, doc_len)',
                   v_name || '_impact', v_name);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON rag.%I (chunk_id)', v_name || '_chunk', v_name);
END
$$;

-- Creates the tenant's partition if it is missing: bare (no indexes) when p_bare. Attached with the
-- bound already checked, so attaching only takes a SHARE UPDATE EXCLUSIVE lock on the parent.
CREATE FUNCTION rag.create_postings_partition_v1(p_tenant text, p_bare boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_name text := rag.postings_partition_v1(p_tenant);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.postings_partition'), hashtext(p_tenant));
    IF to_regclass(format('rag.%I', v_name)) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE rag.%I (LIKE rag.postings, CONSTRAINT %I CHECK (tenant_id = %L))',
                   v_name, v_name || '_tenant', p_tenant);
    -- The parent's policy applies through the parent; the partition gets its own for any other way in.
    EXECUTE format('ALTER TABLE rag.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_name);
    EXECUTE format('CREATE POLICY tenant_isolation ON rag.%I USING (tenant_id = rag.current_tenant()) '
                   'WITH CHECK (tenant_id = rag.current_tenant())', v_name);
    EXECUTE format('ALTER TABLE rag.postings ATTACH PARTITION rag.%I FOR VALUES IN (%L)', v_name, p_tenant);
    IF NOT p_bare THEN
        PERFORM rag.index_postings_partition_v1(p_tenant);
    END IF;
END
$$;

-- The postings of 0001's table move to their tenants' partitions, indexed.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT DISTINCT tenant_id FROM rag.postings_0001 ORDER BY 1 LOOP
        PERFORM rag.create_postings_partition_v1(t, true);
        EXECUTE format('ALTER TABLE rag.%I NO FORCE ROW LEVEL SECURITY', rag.postings_partition_v1(t));
        EXECUTE format('INSERT INTO rag.%I SELECT * FROM rag.postings_0001 WHERE tenant_id = %L',
                       rag.postings_partition_v1(t), t);
        EXECUTE format('ALTER TABLE rag.%I FORCE ROW LEVEL SECURITY', rag.postings_partition_v1(t));
        PERFORM rag.index_postings_partition_v1(t);
    END LOOP;
END $$;
DROP TABLE rag.postings_0001;

-- Called by a load before each batch: defers the indexes of the tenant's postings if it has none, and
-- extends the load's lease while they are deferred. True while they are deferred. Decides under the lock
-- every writer of the tenant's postings takes, so none is added meanwhile.
CREATE FUNCTION rag.defer_lexical_index_v1(p_tenant text, p_lease_seconds double precision) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_name text := rag.postings_partition_v1(p_tenant);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rag.lexical_index'), hashtext(p_tenant));
    UPDATE rag.lexical_index_deferrals
       SET load_until = greatest(load_until, now() + make_interval(secs => p_lease_seconds))
     WHERE tenant_id = p_tenant;
    IF FOUND THEN
        RETURN true;
    END IF;
    -- Any tuple at all, live or dead, committed or not, means postings (read past the policies). Only an
    -- empty partition is looked at again under the lock.
    IF to_regclass(format('rag.%I', v_name)) IS NOT NULL AND pg_relation_size(format('rag.%I', v_name)) > 0 THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(p_tenant));
    IF to_regclass(format('rag.%I', v_name)) IS NULL THEN
        PERFORM rag.create_postings_partition_v1(p_tenant, true);
    ELSE
        IF pg_relation_size(format('rag.%I', v_name)) > 0 THEN
            RETURN false;
        END IF;
        EXECUTE format('DROP INDEX IF EXISTS rag.%I, rag.%I', v_name || '_impact', v_name || '_chunk');
    END IF;
    INSERT INTO rag.lexical_index_deferrals (tenant_id, load_until)
    VALUES (p_tenant, now() + make_interval(secs => p_lease_seconds));
    RETURN true;
END
$$;

-- Builds a tenant's deferred postings indexes once its load's lease is over; p_release ends the calling
-- load's lease first. A caller that finds the build under way returns at once. True when it built them.
CREATE FUNCTION rag.build_lexical_index_v1(p_tenant text, p_release boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF p_release THEN
        UPDATE rag.lexical_index_deferrals SET load_until = now() WHERE tenant_id = p_tenant;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('rag.lexical_index'), hashtext(p_tenant)) THEN
        RETURN false;
    END IF;
    DELETE FROM rag.lexical_index_deferrals WHERE tenant_id = p_tenant AND load_until <= now();
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM rag.index_postings_partition_v1(p_tenant);
    RETURN true;
END
$$;

-- For an idle worker: the tenants whose deferral outlived its load's lease (the load died).
CREATE FUNCTION rag.stale_lexical_index_deferrals_v1() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT tenant_id FROM rag.lexical_index_deferrals WHERE load_until <= now() ORDER BY 1
$$;

-- Every tenant whose chunks are inserted has its partition before 0012's insert trigger indexes them
-- (same-event triggers fire in name order: "chunks_index_0_partition" before "chunks_index_insert").
CREATE FUNCTION rag.chunks_postings_partition_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text;
BEGIN
    FOR v_tenant IN SELECT DISTINCT tenant_id FROM new_chunks LOOP
        IF to_regclass(format('rag.%I', rag.postings_partition_v1(v_tenant))) IS NULL THEN
            PERFORM rag.create_postings_partition_v1(v_tenant);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER chunks_index_0_partition AFTER INSERT ON rag.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_postings_partition_v1();

-- Chunks stored before this migration whose tenant has no postings yet (a backlog a load left behind),
-- read past the policy: without FORCE, the owner is not subject to it.
ALTER TABLE rag.chunks NO FORCE ROW LEVEL SECURITY;
SELECT rag.create_postings_partition_v1(t.tenant_id)
  FROM (SELECT DISTINCT tenant_id FROM rag.chunks) AS t
 WHERE to_regclass(format('rag.%I', rag.postings_partition_v1(t.tenant_id))) IS NULL;
ALTER TABLE rag.chunks FORCE ROW LEVEL SECURITY;

SELECT rag.pin_search_path_v1('rag.index_postings_partition_v1(text)');
SELECT rag.pin_search_path_v1('rag.create_postings_partition_v1(text, boolean)');
SELECT rag.pin_search_path_v1('rag.defer_lexical_index_v1(text, double precision)');
SELECT rag.pin_search_path_v1('rag.build_lexical_index_v1(text, boolean)');
SELECT rag.pin_search_path_v1('rag.stale_lexical_index_deferrals_v1()');
REVOKE ALL ON FUNCTION rag.index_postings_partition_v1(text), rag.create_postings_partition_v1(text, boolean),
    rag.defer_lexical_index_v1(text, double precision), rag.build_lexical_index_v1(text, boolean),
    rag.stale_lexical_index_deferrals_v1() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.create_postings_partition_v1(text, boolean),
    rag.defer_lexical_index_v1(text, double precision), rag.build_lexical_index_v1(text, boolean),
    rag.stale_lexical_index_deferrals_v1() TO ipai_app;
