-- Chat sessions and their messages. A turn (the user's message and the answer) is written in one
-- transaction after the answer exists, so a failed model call leaves no half-written turn.
CREATE TABLE rag.chat_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   text NOT NULL DEFAULT 'default',
    user_id     text,
    title       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_tenant ON rag.chat_sessions (tenant_id, updated_at DESC);

CREATE TABLE rag.chat_messages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id        uuid NOT NULL REFERENCES rag.chat_sessions (id) ON DELETE CASCADE,
    tenant_id         text NOT NULL DEFAULT 'default',
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    content           text NOT NULL,
    standalone_query  text,
    citations         jsonb NOT NULL DEFAULT '[]'::jsonb,
    usage             jsonb NOT NULL DEFAULT '{}'::jsonb,
    grounded          boolean,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_session ON rag.chat_messages (session_id, id);
