-- Content in shared tables keyed by a compact book number, with what retrieval needs computed at
-- load time (issue 11): posting lists for BM25, vectors in a narrow halfvec table under one HNSW
-- index per dimension, the node path stored on each atom (docs/benchmarks.md has the measurements). Replaces the per-book LIST partitions
-- of 0003: one global vector index needs one table, and a hundred partitions cost planning time on
-- every search. Every key still leads with book_no, so the tables stay distributable by book on
-- Citus (co-located on book_no; books is the small reference table that maps book_id to book_no).
-- Existing books are moved into the new tables here, postings included.
-- depends: 0006_atoms_reading_order

ALTER TABLE books
    ADD COLUMN book_no integer GENERATED ALWAYS AS IDENTITY,
    -- Sum of the atoms' lengths in tokens (BM25's average document length is summed per scope).
    ADD COLUMN token_count bigint NOT NULL DEFAULT 0;
ALTER TABLE books ADD CONSTRAINT books_book_no_key UNIQUE (book_no);

ALTER TABLE structure_nodes RENAME TO structure_nodes_partitioned;
ALTER TABLE structure_nodes_partitioned RENAME CONSTRAINT structure_nodes_pkey TO structure_nodes_partitioned_pkey;
ALTER TABLE content_atoms RENAME TO content_atoms_partitioned;
ALTER TABLE content_atoms_partitioned RENAME CONSTRAINT content_atoms_pkey TO content_atoms_partitioned_pkey;
ALTER INDEX content_atoms_reading_order_idx RENAME TO content_atoms_partitioned_reading_order_idx;
ALTER INDEX content_atoms_node_idx RENAME TO content_atoms_partitioned_node_idx;

CREATE TABLE structure_nodes (
    book_no        integer NOT NULL,
    -- Position in reading order (pre-order) and the pre-order position of the subtree's last node:
    -- a subtree is the range [preorder, subtree_end].
    preorder       integer NOT NULL,
    node_id        uuid NOT NULL,
    parent_node_id uuid,
    subtree_end    integer NOT NULL,
    level          integer NOT NULL CHECK (level >= 1),
    ordinal        integer NOT NULL CHECK (ordinal >= 0),
    title          text NOT NULL,
    first_page     integer NOT NULL,
    last_page      integer NOT NULL,
    -- Titles from the root down to this node (breadcrumbs), fixed at load time.
    path_titles    text[] NOT NULL,
    PRIMARY KEY (book_no, preorder),
    UNIQUE (book_no, node_id),
    CHECK (subtree_end >= preorder),
    CHECK (last_page >= first_page)
);

CREATE TABLE content_atoms (
    book_no       integer NOT NULL,
    -- Position in the book's reading order, from 0.
    ordinal       integer NOT NULL CHECK (ordinal >= 0),
    atom_id       uuid NOT NULL,
    node_id       uuid NOT NULL,
    -- The node's pre-order position, so "this node's subtree" is a range filter.
    node_preorder integer NOT NULL,
    page_number   integer NOT NULL,
    text          text NOT NULL,
    -- The node's path_titles, stored with the atom so a search result needs no join to build it.
    node_path     text[] NOT NULL,
    PRIMARY KEY (book_no, ordinal),
    UNIQUE (book_no, atom_id)
);
-- Reading order (page, then position) and subtrees are range scans within a book.
CREATE INDEX content_atoms_reading_order_idx ON content_atoms (book_no, page_number, ordinal);
CREATE INDEX content_atoms_node_idx ON content_atoms (book_no, node_preorder);

-- Vectors apart from the rows, in half precision (half the memory; recall against float32 exact
-- search is unchanged). The dimension is per book (books.embedding_dimension).
CREATE TABLE atom_vectors (
    book_no   integer NOT NULL,
    ordinal   integer NOT NULL,
    embedding halfvec NOT NULL,
    PRIMARY KEY (book_no, ordinal)
);

-- One HNSW index per dimension in use, over that dimension's rows only (an index needs a fixed
-- dimension). Searches of many books use it (pgvector's iterative scans keep a book filter
-- complete); searches of a few books scan their vectors exactly. The writer calls this for every
-- book it loads (a no-op once the index exists). Beyond 4,000 dimensions pgvector cannot index
-- halfvec: such books are always searched exactly.
CREATE FUNCTION ensure_vector_index(dimension integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF dimension <= 4000 THEN
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON atom_vectors USING hnsw ((embedding::halfvec(%s)) halfvec_cosine_ops) '
            'WITH (m = 16, ef_construction = 200) WHERE vector_dims(embedding) = %s',
            'atom_vectors_hnsw_' || dimension, dimension, dimension);
    END IF;
END
$$;

-- BM25 postings, one list per (lexeme, book): the atoms holding the lexeme, as `df` entries of 8
-- bytes in ordinal order, each the atom's ordinal (int4), the lexeme's frequency in it (int2) and
-- the atom's length in tokens (int2, at most 32767), big-endian (int4send/int2send). A search
-- fetches the lists of its query's lexemes in the searched books (one index probe each, the lists
-- of a lexeme concatenated by the server) and scores them in process with numpy, at a few
-- nanoseconds per posting (Postgres' executor spends about a microsecond on each).
CREATE TABLE postings (
    lexeme  text NOT NULL,
    book_no integer NOT NULL,
    df      integer NOT NULL,
    entries bytea NOT NULL,
    PRIMARY KEY (lexeme, book_no)
);
CREATE INDEX postings_book_idx ON postings (book_no);

-- What BM25 indexes of an atom: its node path as a contextual header, then its text, tokenised by
-- Postgres' english configuration (Snowball stemming, stop words dropped). The header makes a
-- section's title count for every passage of the section, so a query naming a topic finds the
-- section about it. tf = occurrences of the lexeme; an atom's length = its number of tokens.
CREATE FUNCTION atom_tokens(node_path text[], body text)
RETURNS TABLE (lexeme text, tf integer) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lexeme, cardinality(positions) FROM unnest(to_tsvector('english', array_to_string(node_path, ' / ')))
    UNION ALL
    SELECT lexeme, cardinality(positions) FROM unnest(to_tsvector('english', body))
$$;

-- Builds a book's posting lists from its atoms and records its token total: called by the writer
-- when a book is loaded, and below for the books that existed before this migration.
CREATE FUNCTION build_postings(p_book_no integer) RETURNS bigint LANGUAGE sql AS $$
    WITH tokens AS (
        SELECT a.ordinal, t.lexeme, sum(t.tf)::integer AS tf
        FROM content_atoms a CROSS JOIN LATERAL atom_tokens(a.node_path, a.text) t
        WHERE a.book_no = p_book_no
        GROUP BY a.ordinal, t.lexeme
    ), lengths AS (
        SELECT ordinal, sum(tf)::integer AS length FROM tokens GROUP BY ordinal
    ), inserted AS (
        INSERT INTO postings (lexeme, book_no, df, entries)
        SELECT t.lexeme, p_book_no, count(*),
               string_agg(int4send(t.ordinal) || int2send(least(t.tf, 32767)::smallint)
                          || int2send(least(l.length, 32767)::smallint), ''::bytea ORDER BY t.ordinal)
        FROM tokens t JOIN lengths l USING (ordinal)
        GROUP BY t.lexeme
        RETURNING 1
    )
    UPDATE books SET token_count = (SELECT coalesce(sum(length), 0) FROM lengths)
    WHERE book_no = p_book_no
    RETURNING token_count
$$;

-- Every process serving searches keeps the catalogue of ready books in memory: tell them when it
-- changes (loads commit the book as ready, deletes remove it). The payload is the book id.
CREATE FUNCTION notify_books_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('books_changed', coalesce(NEW.book_id, OLD.book_id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER books_changed AFTER INSERT OR UPDATE OR DELETE ON books
    FOR EACH ROW EXECUTE FUNCTION notify_books_changed();

-- The books loaded before this migration.
INSERT INTO structure_nodes (book_no, preorder, node_id, parent_node_id, subtree_end, level, ordinal, title,
                             first_page, last_page, path_titles)
SELECT b.book_no, n.preorder, n.node_id, n.parent_node_id, n.subtree_end, n.level, n.ordinal, n.title,
       n.first_page, n.last_page, n.path_titles
FROM structure_nodes_partitioned n JOIN books b USING (book_id);

INSERT INTO content_atoms (book_no, ordinal, atom_id, node_id, node_preorder, page_number, text, node_path)
SELECT b.book_no, a.ordinal, a.atom_id, a.node_id, a.node_preorder, a.page_number, a.text, n.path_titles
FROM content_atoms_partitioned a JOIN books b USING (book_id)
JOIN structure_nodes_partitioned n ON n.book_id = a.book_id AND n.node_id = a.node_id
ORDER BY b.book_no, a.ordinal;

INSERT INTO atom_vectors (book_no, ordinal, embedding)
SELECT b.book_no, a.ordinal, a.embedding::halfvec
FROM content_atoms_partitioned a JOIN books b USING (book_id)
ORDER BY b.book_no, a.ordinal;

SELECT build_postings(book_no) FROM books ORDER BY book_no;
SELECT ensure_vector_index(embedding_dimension) FROM (SELECT DISTINCT embedding_dimension FROM books) d;

-- The partitioned parents take their per-book partitions with them.
DROP TABLE content_atoms_partitioned;
DROP TABLE structure_nodes_partitioned;
ALTER TABLE books DROP COLUMN avg_atom_lexemes;
