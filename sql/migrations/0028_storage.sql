-- Storage: files in buckets per tenant. The bytes live in a backend (a content-addressed folder under
-- IPAI_DATA_DIR, or an S3-compatible object store); what is stored, where and by whom lives here, under
-- row-level security like everything else. An object becomes visible only when its row commits, after its
-- bytes are complete: a crash mid-upload leaves at most an unreferenced blob, which the cleanup job removes.

CREATE SCHEMA storage;
GRANT USAGE ON SCHEMA storage TO ipai_app;

-- The buckets every tenant has, with their defaults. content_types are media types or 'type/*' patterns;
-- retention_days NULL = kept until deleted.
CREATE TABLE storage.bucket_kinds (
    name            text PRIMARY KEY,
    description     text NOT NULL,
    public          boolean NOT NULL DEFAULT false,
    content_types   text[] NOT NULL,
    retention_days  integer CHECK (retention_days > 0)
);
INSERT INTO storage.bucket_kinds (name, description, public, content_types, retention_days) VALUES
    ('documents', 'BIR forms and compliance documents', false,
     ARRAY['application/pdf', 'text/*', 'application/json', 'application/x-ndjson', 'application/zip',
           'application/vnd.openxmlformats-officedocument.*', 'application/vnd.oasis.opendocument.*',
           'application/msword', 'application/vnd.ms-excel', 'image/*'], NULL),
    ('attachments', 'Odoo record attachments (synced)', false, ARRAY['*/*'], NULL),
    ('exports', 'report exports (CSV, NDJSON, PDF) handed out as signed URLs', false,
     ARRAY['text/csv', 'application/x-ndjson', 'application/json', 'application/pdf',
           'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'], 30),
    ('public', 'logos and landing assets, readable without credentials', true,
     ARRAY['image/*', 'text/css', 'text/plain', 'font/*', 'application/pdf'], NULL),
    ('kb', 'originals of the files uploaded to the knowledge base', false, ARRAY['*/*'], NULL);
GRANT SELECT ON storage.bucket_kinds TO ipai_app;

-- A tenant's own settings of a bucket; NULL = the kind's default (max_object_bytes: STORAGE_MAX_OBJECT_BYTES),
-- retention_days 0 = kept until deleted.
CREATE TABLE storage.buckets (
    tenant_id         text NOT NULL,
    name              text NOT NULL REFERENCES storage.bucket_kinds (name),
    max_object_bytes  bigint CHECK (max_object_bytes > 0),
    content_types     text[],
    retention_days    integer CHECK (retention_days >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE storage.objects (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    bucket        text NOT NULL REFERENCES storage.bucket_kinds (name),
    key           text COLLATE "C" NOT NULL CHECK (length(key) BETWEEN 1 AND 1024),
    size          bigint NOT NULL CHECK (size >= 0),
    content_type  text NOT NULL,
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    blob          text NOT NULL,
    uploader      text,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT objects_key UNIQUE (tenant_id, bucket, key)
);
CREATE INDEX objects_blob ON storage.objects (blob);
CREATE INDEX objects_age ON storage.objects (bucket, updated_at);

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.buckets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage.buckets
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage.objects
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON storage.buckets, storage.objects TO ipai_app;
GRANT USAGE, SELECT ON SEQUENCE storage.objects_id_seq TO ipai_app;

-- A knowledge-base document's original file (an upload's, a stored file's, an Odoo attachment's).
ALTER TABLE rag.documents ADD COLUMN original_id bigint REFERENCES storage.objects (id) ON DELETE SET NULL;
CREATE INDEX documents_original ON rag.documents (original_id) WHERE original_id IS NOT NULL;

-- Whether any tenant's object still points at a blob (the filesystem backend shares equal bytes between
-- objects and tenants; a blob is removed only when nothing refers to it).
CREATE FUNCTION storage.blob_in_use_v1(p_blob text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM storage.objects AS o WHERE o.blob = p_blob)
$$;

-- Retention across tenants: objects older than their bucket's retention (the tenant's setting, else the
-- kind's), at most p_limit per call; returns their blobs, for the caller to release.
CREATE FUNCTION storage.expire_v1(p_limit integer)
RETURNS TABLE (tenant_id text, bucket text, key text, blob text)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM storage.objects AS o
     WHERE o.id IN (
           SELECT x.id FROM storage.objects AS x
             JOIN storage.bucket_kinds AS k ON k.name = x.bucket
             LEFT JOIN storage.buckets AS b ON b.tenant_id = x.tenant_id AND b.name = x.bucket
            CROSS JOIN LATERAL (SELECT CASE WHEN b.retention_days IS NULL THEN k.retention_days
                                            ELSE nullif(b.retention_days, 0) END AS days) AS r
            WHERE r.days IS NOT NULL AND x.updated_at < now() - make_interval(days => r.days)
            LIMIT p_limit)
    RETURNING o.tenant_id, o.bucket, o.key, o.blob
$$;
REVOKE ALL ON FUNCTION storage.blob_in_use_v1(text), storage.expire_v1(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION storage.blob_in_use_v1(text), storage.expire_v1(integer) TO ipai_app;
