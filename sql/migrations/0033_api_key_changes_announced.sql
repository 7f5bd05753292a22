-- Every change to an API key (revoked, deleted, its scopes edited, the table truncated) is announced on the
-- channel ipai_api_keys with the key's prefix ('*' for all keys): each service process keeps the keys it has
-- verified in memory (app/security/key_cache.py) only while it hears these, and forgets a key when it changes,
-- so a revocation still takes effect at once on every replica.
CREATE FUNCTION control_plane.api_key_changed_v1() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('ipai_api_keys', '*');
    ELSE
        PERFORM pg_notify('ipai_api_keys', OLD.prefix);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION control_plane.api_key_changed_v1() FROM PUBLIC;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON control_plane.api_keys
    FOR EACH ROW EXECUTE FUNCTION control_plane.api_key_changed_v1();
CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON control_plane.api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION control_plane.api_key_changed_v1();
