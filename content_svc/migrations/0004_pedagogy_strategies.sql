-- Pedagogy strategies: owner_id NULL = global (visible to all, written by admins), otherwise
-- private to that user.
-- depends: 0003_structure_and_atoms

CREATE TABLE pedagogy_strategies (
    strategy_id  uuid PRIMARY KEY,
    owner_id     text CHECK (owner_id IS NULL OR owner_id <> ''),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '',
    instructions text NOT NULL DEFAULT '',
    tags         text[] NOT NULL DEFAULT '{}',
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now()
);

-- Lists are ordered by (name, strategy_id) within "global" and within one owner.
CREATE INDEX pedagogy_strategies_global_idx ON pedagogy_strategies (name, strategy_id) WHERE owner_id IS NULL;
CREATE INDEX pedagogy_strategies_owner_idx ON pedagogy_strategies (owner_id, name, strategy_id)
    WHERE owner_id IS NOT NULL;

-- Bumped in the same transaction as every write ('' = global, else the owner id); the read cache
-- keys lists by these versions, so a cached list can never outlive a committed change, even if
-- Redis was unreachable when the change happened.
CREATE TABLE pedagogy_list_versions (
    owner_key text PRIMARY KEY,
    version   bigint NOT NULL DEFAULT 0
);
