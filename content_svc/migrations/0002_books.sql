-- Books of the library. A book is written by the loader in one transaction and is immutable after
-- that (it is deleted and re-ingested, never edited).
-- depends: 0001_enable_pgvector

CREATE TABLE books (
    book_id             uuid PRIMARY KEY,
    title               text NOT NULL,
    authors             text[] NOT NULL DEFAULT '{}',
    subject             text NOT NULL DEFAULT '',
    grade_level         text NOT NULL DEFAULT '',
    content_sha256      text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    page_count          integer NOT NULL CHECK (page_count >= 0),
    embedding_model     text NOT NULL,
    embedding_dimension integer NOT NULL CHECK (embedding_dimension BETWEEN 1 AND 16000),
    status              text NOT NULL DEFAULT 'loading' CHECK (status IN ('loading', 'ready')),
    node_count          integer NOT NULL DEFAULT 0,
    atom_count          integer NOT NULL DEFAULT 0,
    -- Mean number of distinct lexemes per atom: the BM25 length normalisation (dropped by 0007:
    -- BM25 now counts tokens, books.token_count).
    avg_atom_lexemes    double precision NOT NULL DEFAULT 0,
    -- New on every load: read-cache keys include it, so a deleted and re-ingested book is never
    -- served from a stale cache entry.
    load_id             uuid NOT NULL DEFAULT gen_random_uuid(),
    create_time         timestamptz NOT NULL DEFAULT now()
);

-- De-duplication by source file. `books` is the small catalogue table (a Citus *reference* table
-- when distributed, replicated whole), so this global unique stays enforceable; the large content
-- tables are the ones distributed by book (by book_no since 0007).
CREATE UNIQUE INDEX books_content_sha256_key ON books (content_sha256);

CREATE INDEX books_ready_newest_idx ON books (create_time DESC, book_id DESC) WHERE status = 'ready';
