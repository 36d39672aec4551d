-- Superseded by 0007: content now lives in shared tables keyed by the book's number (book_no), one
-- HNSW index per dimension; 0007 moves the books loaded into these partitions and drops them.
-- Book structure and passages, partitioned by LIST (book_id): the loader attaches one partition
-- per book, with its own HNSW index. A search restricted to a book is pruned to that partition, so
-- the HNSW scan only ever sees that book's vectors and returns a full, accurate top_k (pgvector 0.6
-- filters *after* the HNSW scan, so a shared index would starve book-filtered searches).
-- Every primary key and unique constraint starts with book_id, so the same schema can be
-- distributed by book_id on Citus.
-- depends: 0002_books

CREATE TABLE structure_nodes (
    book_id        uuid NOT NULL,
    node_id        uuid NOT NULL,
    parent_node_id uuid,
    -- Position in reading order (pre-order) and the pre-order position of the subtree's last node:
    -- a subtree is the range [preorder, subtree_end].
    preorder       integer NOT NULL,
    subtree_end    integer NOT NULL,
    level          integer NOT NULL CHECK (level >= 1),
    ordinal        integer NOT NULL CHECK (ordinal >= 0),
    title          text NOT NULL,
    first_page     integer NOT NULL,
    last_page      integer NOT NULL,
    -- Titles from the root down to this node (breadcrumbs), fixed at load time.
    path_titles    text[] NOT NULL,
    PRIMARY KEY (book_id, node_id),
    UNIQUE (book_id, preorder),
    CHECK (subtree_end >= preorder),
    CHECK (last_page >= first_page)
) PARTITION BY LIST (book_id);

CREATE TABLE content_atoms (
    book_id       uuid NOT NULL,
    atom_id       uuid NOT NULL,
    node_id       uuid NOT NULL,
    -- The node's pre-order position, so "this node's subtree" is a range filter.
    node_preorder integer NOT NULL,
    ordinal       integer NOT NULL CHECK (ordinal >= 0),
    page_number   integer NOT NULL,
    text          text NOT NULL,
    -- Dimension is per book (books.embedding_dimension); each partition's HNSW index casts to it.
    embedding     vector NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (book_id, atom_id),
    UNIQUE (book_id, ordinal)
) PARTITION BY LIST (book_id);

CREATE INDEX content_atoms_tsv_idx ON content_atoms USING gin (tsv);
CREATE INDEX content_atoms_node_idx ON content_atoms (book_id, node_preorder);
