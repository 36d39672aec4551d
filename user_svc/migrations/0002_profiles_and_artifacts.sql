-- UserService schema: everything is keyed by the owner's user id (the JWT subject, an opaque
-- string), so db_user can be distributed by user id later (DESIGN.md §4). Ids of content_svc's
-- rows (books, nodes, atoms, strategies) are UUIDs there; they are not foreign keys (other database).

CREATE TABLE teacher_profiles (
    user_id                      text        PRIMARY KEY,
    display_name                 text        NOT NULL DEFAULT '',
    grade_levels                 text[]      NOT NULL DEFAULT '{}',
    subjects                     text[]      NOT NULL DEFAULT '{}',
    language                     text        NOT NULL DEFAULT 'en',
    default_pedagogy_strategy_id uuid,
    -- [{"book_id": uuid, "current_node_id": uuid or "", "current_page": int}, ...]: small (<= 50),
    -- always read and written whole with the profile.
    active_books                 jsonb       NOT NULL DEFAULT '[]',
    create_time                  timestamptz NOT NULL DEFAULT now(),
    update_time                  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE class_artifacts (
    owner_id             text        NOT NULL,
    artifact_id          uuid        NOT NULL,
    kind                 text        NOT NULL CHECK (kind IN ('QUIZ', 'LESSON_PLAN', 'WORKSHEET')),
    title                text        NOT NULL,
    -- The body message (Quiz, LessonPlan or Worksheet, per kind) in proto JSON.
    body                 jsonb       NOT NULL,
    book_ids             uuid[]      NOT NULL DEFAULT '{}',
    -- [{"book_id": uuid, "atom_id": uuid}, ...]
    atom_references      jsonb       NOT NULL DEFAULT '[]',
    pedagogy_strategy_id uuid,
    revision             bigint      NOT NULL DEFAULT 1 CHECK (revision >= 1),
    create_time          timestamptz NOT NULL DEFAULT now(),
    update_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, artifact_id)
);

-- ListArtifacts: newest first per owner (keyset pagination on (create_time, artifact_id)).
CREATE INDEX class_artifacts_owner_newest
    ON class_artifacts (owner_id, create_time DESC, artifact_id DESC);
-- ListArtifacts' book filter (book_ids @> ARRAY[book]).
CREATE INDEX class_artifacts_book_ids ON class_artifacts USING gin (book_ids);

-- Earlier versions: every update or rollback archives the version it replaces.
CREATE TABLE artifact_revisions (
    owner_id             text        NOT NULL,
    artifact_id          uuid        NOT NULL,
    revision             bigint      NOT NULL CHECK (revision >= 1),
    kind                 text        NOT NULL CHECK (kind IN ('QUIZ', 'LESSON_PLAN', 'WORKSHEET')),
    title                text        NOT NULL,
    body                 jsonb       NOT NULL,
    book_ids             uuid[]      NOT NULL DEFAULT '{}',
    atom_references      jsonb       NOT NULL DEFAULT '[]',
    pedagogy_strategy_id uuid,
    create_time          timestamptz NOT NULL,
    -- When this version was written, and when it was replaced.
    update_time          timestamptz NOT NULL,
    archive_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, artifact_id, revision),
    FOREIGN KEY (owner_id, artifact_id) REFERENCES class_artifacts (owner_id, artifact_id) ON DELETE CASCADE
);
