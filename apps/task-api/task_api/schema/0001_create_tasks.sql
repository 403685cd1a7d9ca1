-- Tasks belong to the Keycloak subject (sub claim) that created them.
CREATE TABLE tasks (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner       text        NOT NULL,
    title       text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    status      text        NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'done')),
    due_date    date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The list endpoint filters by owner and pages newest first.
CREATE INDEX tasks_owner_created_idx ON tasks (owner, created_at DESC, id DESC);
-- Admins list across owners.
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, id DESC);
