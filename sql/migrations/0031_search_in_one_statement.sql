-- A search can be one statement on a pooled connection, with no transaction of its own: the wrapper refuses a
-- tenant other than the transaction's when a tenant is bound (as before), and outside a tenant's transaction it
-- searches the tenant its argument names. The service role could bind any tenant with set_config anyway, so this
-- grants nothing new; it saves the BEGIN, the set_config and the COMMIT of every search (three round trips).
CREATE OR REPLACE FUNCTION rag.hybrid_search(
    query_embedding vector, query_text text, match_threshold double precision DEFAULT 0,
    match_count integer DEFAULT 10, p_tenant_id text DEFAULT 'default', p_model text DEFAULT NULL,
    w_vector double precision DEFAULT 1, w_lexical double precision DEFAULT 1,
    w_trigram double precision DEFAULT 0, p_fusion text DEFAULT 'rrf', rrf_k double precision DEFAULT 60,
    p_offset integer DEFAULT 0, p_sources text[] DEFAULT NULL, p_languages text[] DEFAULT NULL,
    p_document_ids bigint[] DEFAULT NULL, p_metadata jsonb DEFAULT NULL,
    p_updated_from timestamptz DEFAULT NULL, p_updated_to timestamptz DEFAULT NULL,
    p_collapse boolean DEFAULT false, p_candidates integer DEFAULT 100,
    p_postings_depth integer DEFAULT 1000, p_trigram_threshold double precision DEFAULT 0.3,
    p_k1 double precision DEFAULT 1.2, p_b double precision DEFAULT 0.75,
    p_snippets boolean DEFAULT true, p_ef_search integer DEFAULT 100)
RETURNS SETOF rag.search_hit LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    IF p_tenant_id IS NULL OR (rag.current_tenant() IS NOT NULL AND p_tenant_id <> rag.current_tenant()) THEN
        RAISE EXCEPTION 'search of tenant % in a transaction of tenant %', coalesce(p_tenant_id, '(none)'),
            coalesce(rag.current_tenant(), '(none)') USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM rag.hybrid_search_v2($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                                    $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26);
END
$$;

-- CREATE OR REPLACE dropped the wrapper's fixed search_path: pin it again.
SELECT rag.pin_search_path_v1('rag.hybrid_search(vector, text, double precision, integer, text, text, double precision,
    double precision, double precision, text, double precision, integer, text[], text[], bigint[], jsonb, timestamptz,
    timestamptz, boolean, integer, integer, double precision, double precision, double precision, boolean, integer)');
