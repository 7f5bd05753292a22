-- The vocabulary (rag.term_stats) gets one partition per tenant, as 0013 gave the postings one, so that a
-- bulk load into a tenant without postings also leaves its vocabulary's trigram index to its end and
-- builds it once. Kept up row by row, that GIN index made the vocabulary's insert in one pass over the
-- ingest benchmark's chunks take 0.69 s instead of 0.32 s (rolled back on a scratch copy); building it
-- afterwards takes 0.15-0.18 s. The primary key, which the statistics upserts need, is on the parent and
-- so on every partition from its start; only the trigram index is per partition. Until its build, the
-- tenant's trigram leg reads its vocabulary without it: slower, never wrong.
ALTER TABLE rag.term_stats RENAME TO term_stats_0016;
ALTER TABLE rag.term_stats_0016 RENAME CONSTRAINT term_stats_pkey TO term_stats_0016_pkey;
ALTER INDEX rag.term_stats_lexeme_trgm RENAME TO term_stats_0016_lexeme_trgm;
ALTER TABLE rag.term_stats_0016 DISABLE ROW LEVEL SECURITY;  -- an owner that is no superuser moves every row

-- (The NOT NULL constraints are named as before, as 0013 does for the postings.)
CREATE TABLE rag.term_stats (
    id         bigint CONSTRAINT term_stats_id_not_null NOT NULL,
    tenant_id  text CONSTRAINT term_stats_tenant_id_not_null NOT NULL,
    language   regconfig CONSTRAINT term_stats_language_not_null NOT NULL,
    lexeme     text CONSTRAINT term_stats_lexeme_not_null NOT NULL,
    df         integer CONSTRAINT term_stats_df_not_null NOT NULL,
    CONSTRAINT term_stats_pkey PRIMARY KEY (tenant_id, language, lexeme)
) PARTITION BY LIST (tenant_id);
ALTER TABLE rag.term_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag.term_stats FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rag.term_stats
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON rag.term_stats TO ipai_app;

CREATE FUNCTION rag.term_stats_partition_v1(p_tenant text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 'term_stats_' || substr(md5(p_tenant), 1, 12) $$;

-- Builds the indexes that the tenant's postings and vocabulary partitions lack.
CREATE FUNCTION rag.index_lexical_partitions_v1(p_tenant text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    v_name text := rag.term_stats_partition_v1(p_tenant);
BEGIN
    PERFORM rag.index_postings_partition_v1(p_tenant);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON rag.%I USING gin (lexeme gin_trgm_ops)',
                   v_name || '_lexeme_trgm', v_name);
END
$$;

-- Creates the tenant's postings and vocabulary partitions where missing: bare (without the indexes
-- above) when p_bare. The vocabulary's partition gets the parent's primary key as it is attached.
CREATE FUNCTION rag.create_lexical_partitions_v1(p_tenant text, p_bare boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_name text := rag.term_stats_partition_v1(p_tenant);
BEGIN
    PERFORM rag.create_postings_partition_v1(p_tenant, p_bare);
    PERFORM pg_advisory_xact_lock(hashtext('rag.postings_partition'), hashtext(p_tenant));
    IF to_regclass(format('rag.%I', v_name)) IS NULL THEN
        -- Room on each page for the df updates of later passes to be HOT, as 0012 set.
        EXECUTE format('CREATE TABLE rag.%I (LIKE rag.term_stats, CONSTRAINT %I CHECK (tenant_id = %L)) '
                       'WITH (fillfactor = 70)', v_name, v_name || '_tenant', p_tenant);
        EXECUTE format('ALTER TABLE rag.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_name);
        EXECUTE format('CREATE POLICY tenant_isolation ON rag.%I USING (tenant_id = rag.current_tenant()) '
                       'WITH CHECK (tenant_id = rag.current_tenant())', v_name);
        EXECUTE format('ALTER TABLE rag.term_stats ATTACH PARTITION rag.%I FOR VALUES IN (%L)', v_name, p_tenant);
    END IF;
    IF NOT p_bare THEN
        PERFORM rag.index_lexical_partitions_v1(p_tenant);
    END IF;
END
$$;

-- 0013's defer_lexical_index_v1, for both partitions: a tenant whose postings are empty gets its postings
-- and trigram indexes built after the load.
CREATE FUNCTION rag.defer_lexical_index_v2(p_tenant text, p_lease_seconds double precision) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_postings text := rag.postings_partition_v1(p_tenant);
    v_terms text := rag.term_stats_partition_v1(p_tenant);
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
    IF to_regclass(format('rag.%I', v_postings)) IS NOT NULL AND pg_relation_size(format('rag.%I', v_postings)) > 0 THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rag.stats'), hashtext(p_tenant));
    IF to_regclass(format('rag.%I', v_postings)) IS NOT NULL AND pg_relation_size(format('rag.%I', v_postings)) > 0 THEN
        RETURN false;
    END IF;
    PERFORM rag.create_lexical_partitions_v1(p_tenant, true);
    EXECUTE format('DROP INDEX IF EXISTS rag.%I, rag.%I, rag.%I',
                   v_postings || '_impact', v_postings || '_chunk', v_terms || '_lexeme_trgm');
    INSERT INTO rag.lexical_index_deferrals (tenant_id, load_until)
    VALUES (p_tenant, now() + make_interval(secs => p_lease_seconds));
    RETURN true;
END
$$;

-- 0013's build_lexical_index_v1, for both partitions.
CREATE FUNCTION rag.build_lexical_index_v2(p_tenant text, p_release boolean DEFAULT false) RETURNS boolean
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
    PERFORM rag.index_lexical_partitions_v1(p_tenant);
    RETURN true;
END
$$;

-- Every tenant whose chunks are inserted has both partitions before the insert trigger indexes them.
CREATE FUNCTION rag.chunks_lexical_partitions_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text;
BEGIN
    FOR v_tenant IN SELECT DISTINCT tenant_id FROM new_chunks LOOP
        IF to_regclass(format('rag.%I', rag.term_stats_partition_v1(v_tenant))) IS NULL
           OR to_regclass(format('rag.%I', rag.postings_partition_v1(v_tenant))) IS NULL THEN
            PERFORM rag.create_lexical_partitions_v1(v_tenant);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
DROP TRIGGER chunks_index_0_partition ON rag.chunks;
CREATE TRIGGER chunks_index_0_partition AFTER INSERT ON rag.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag.chunks_lexical_partitions_v1();
DROP FUNCTION rag.chunks_postings_partition_v1(), rag.defer_lexical_index_v1(text, double precision),
    rag.build_lexical_index_v1(text, boolean);

SELECT rag.pin_search_path_v1('rag.index_lexical_partitions_v1(text)');
SELECT rag.pin_search_path_v1('rag.create_lexical_partitions_v1(text, boolean)');
SELECT rag.pin_search_path_v1('rag.defer_lexical_index_v2(text, double precision)');
SELECT rag.pin_search_path_v1('rag.build_lexical_index_v2(text, boolean)');
REVOKE ALL ON FUNCTION rag.index_lexical_partitions_v1(text), rag.create_lexical_partitions_v1(text, boolean),
    rag.defer_lexical_index_v2(text, double precision), rag.build_lexical_index_v2(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rag.create_lexical_partitions_v1(text, boolean),
    rag.defer_lexical_index_v2(text, double precision), rag.build_lexical_index_v2(text, boolean) TO ipai_app;

-- The vocabulary moves to its tenants' partitions, one for every tenant with chunks or terms (read past
-- the policy of the chunks: without FORCE, the owner is not subject to it). A tenant whose load has
-- deferred its indexes keeps them for that load to build.
ALTER TABLE rag.chunks NO FORCE ROW LEVEL SECURITY;
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tenant_id FROM rag.term_stats_0016 UNION SELECT tenant_id FROM rag.chunks ORDER BY 1 LOOP
        PERFORM rag.create_lexical_partitions_v1(t, true);
        EXECUTE format('ALTER TABLE rag.%I NO FORCE ROW LEVEL SECURITY', rag.term_stats_partition_v1(t));
        EXECUTE format('INSERT INTO rag.%I SELECT * FROM rag.term_stats_0016 WHERE tenant_id = %L',
                       rag.term_stats_partition_v1(t), t);
        EXECUTE format('ALTER TABLE rag.%I FORCE ROW LEVEL SECURITY', rag.term_stats_partition_v1(t));
        IF NOT EXISTS (SELECT FROM rag.lexical_index_deferrals WHERE tenant_id = t) THEN
            PERFORM rag.index_lexical_partitions_v1(t);
        END IF;
    END LOOP;
END $$;
ALTER TABLE rag.chunks FORCE ROW LEVEL SECURITY;
DROP TABLE rag.term_stats_0016;
