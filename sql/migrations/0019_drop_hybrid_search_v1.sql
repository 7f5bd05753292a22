-- hybrid_search_v2 replaced v1 in 0010; v1 stayed only as the oracle of a test, which now creates it from
-- tests/fixtures/hybrid_search_v1.sql inside a rolled-back transaction.
DROP FUNCTION rag.hybrid_search_v1(vector, text, double precision, integer, text, text, double precision,
    double precision, double precision, text, double precision, integer, text[], text[], bigint[], jsonb,
    timestamp with time zone, timestamp with time zone, boolean, integer, integer, double precision,
    double precision, double precision, boolean, integer);
