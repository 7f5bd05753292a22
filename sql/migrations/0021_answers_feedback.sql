-- Every answer the assistant gives (ask, chat, completions), declined ones included, and the feedback people
-- give on them: what writers read to learn which questions the knowledge base answers badly.
CREATE TABLE rag.answers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    question    text NOT NULL,
    search_query text,
    answer      text NOT NULL,
    grounded    boolean NOT NULL,
    model       text NOT NULL,
    citations   jsonb NOT NULL DEFAULT '[]'::jsonb,
    retrieved   jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_tenant_recent ON rag.answers (tenant_id, id DESC);
CREATE INDEX answers_declined ON rag.answers (tenant_id, id DESC) WHERE NOT grounded;

CREATE TABLE rag.feedback (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL,
    answer_id   bigint NOT NULL REFERENCES rag.answers (id) ON DELETE CASCADE,
    rating      smallint NOT NULL CHECK (rating IN (-1, 1)),
    comment     text,
    user_id     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_tenant_recent ON rag.feedback (tenant_id, id DESC);
CREATE INDEX feedback_answer ON rag.feedback (answer_id);

ALTER TABLE rag.answers ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag.answers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rag.answers
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
ALTER TABLE rag.feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag.feedback FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rag.feedback
    USING (tenant_id = rag.current_tenant()) WITH CHECK (tenant_id = rag.current_tenant());
GRANT SELECT, INSERT ON rag.answers, rag.feedback TO ipai_app;
GRANT USAGE, SELECT ON SEQUENCE rag.answers_id_seq, rag.feedback_id_seq TO ipai_app;
