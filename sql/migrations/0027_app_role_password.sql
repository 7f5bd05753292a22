-- The service role's password, generated once and kept in the database (readable by the owner only), so that
-- every process that starts the service - replicas with separate data folders included - connects with the
-- same password instead of each resetting the role's login to its own.
CREATE TABLE control_plane.app_role_login (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    password    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON control_plane.app_role_login FROM PUBLIC;
REVOKE ALL ON control_plane.app_role_login FROM ipai_app;
