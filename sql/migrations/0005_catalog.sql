-- The asset catalog: every data asset under one fully qualified name (system.db.model), and lineage.
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE catalog.assets (
    fqdn           text PRIMARY KEY,
    tenant_id      text NOT NULL DEFAULT 'default',
    type           text NOT NULL,
    system         text NOT NULL,
    db             text NOT NULL,
    model          text NOT NULL,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    owner          text,
    tags           text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    -- which sync registered the asset ('self', 'odoo:<db>', 'kb'); NULL = registered by hand
    registered_by  text,
    -- what fuzzy lookup matches: the model name with its separators as spaces
    name           text GENERATED ALWAYS AS (lower(translate(model, '._', '  '))) STORED,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assets_fqdn_parts CHECK (fqdn = system || '.' || db || '.' || model)
);
CREATE INDEX assets_name ON catalog.assets (tenant_id, name, fqdn);
CREATE INDEX assets_type ON catalog.assets (type, fqdn);
CREATE INDEX assets_system ON catalog.assets (system, fqdn);
CREATE INDEX assets_registered_by ON catalog.assets (registered_by) WHERE registered_by IS NOT NULL;

CREATE TABLE catalog.lineage (
    from_fqdn   text NOT NULL REFERENCES catalog.assets (fqdn) ON DELETE CASCADE,
    to_fqdn     text NOT NULL REFERENCES catalog.assets (fqdn) ON DELETE CASCADE,
    relation    text NOT NULL,
    tenant_id   text NOT NULL DEFAULT 'default',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_fqdn, to_fqdn, relation)
);
CREATE INDEX lineage_to ON catalog.lineage (to_fqdn);

-- The distinct names of a tenant's assets, for fuzzy lookup: the same Odoo model in 400 databases is
-- one name to match, not 400 rows. Kept by the triggers below.
CREATE TABLE catalog.names (
    tenant_id  text NOT NULL,
    name       text NOT NULL,
    assets     integer NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX names_trgm ON catalog.names USING gin (name gin_trgm_ops);

CREATE FUNCTION catalog.names_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog.names AS n (tenant_id, name, assets)
    SELECT tenant_id, name, count(*) FROM new_assets GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (tenant_id, name) DO UPDATE SET assets = n.assets + excluded.assets;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog.names_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog.names AS n SET assets = n.assets - d.count
      FROM (SELECT tenant_id, name, count(*) FROM old_assets GROUP BY 1, 2) AS d
     WHERE n.tenant_id = d.tenant_id AND n.name = d.name;
    DELETE FROM catalog.names WHERE assets <= 0;
    RETURN NULL;
END $$;

CREATE TRIGGER assets_names_insert AFTER INSERT ON catalog.assets
    REFERENCING NEW TABLE AS new_assets FOR EACH STATEMENT EXECUTE FUNCTION catalog.names_insert();
CREATE TRIGGER assets_names_delete AFTER DELETE ON catalog.assets
    REFERENCING OLD TABLE AS old_assets FOR EACH STATEMENT EXECUTE FUNCTION catalog.names_delete();
