-- Each book's vectors once more, as one row: what a service process reads into its vector cache
-- (content_svc.vectors) to search books exactly in process. Aggregating a book's 1,000 atom_vectors
-- rows on every read cost ~7.5 ms; reading this row ~2 ms, which a search of books no process has
-- read lately pays per book. Built from the rows just written, by the loader and here for the books
-- already loaded (build_vector_block), so the two can never disagree; deleted with the book.
-- Big-endian, as int4send and halfvec_send write them: the atoms' ordinals and their nodes' pre-order
-- positions as int4s, and the vectors as `dimension` float16s each, atom after atom, in ordinal
-- order. Stored uncompressed: half floats do not compress, and a read is then a plain copy.
-- depends: 0007_shared_content_tables

CREATE TABLE vector_blocks (
    book_no    integer PRIMARY KEY,
    ordinals   bytea NOT NULL,
    preorders  bytea NOT NULL,
    embeddings bytea NOT NULL
);
ALTER TABLE vector_blocks
    ALTER COLUMN ordinals SET STORAGE EXTERNAL,
    ALTER COLUMN preorders SET STORAGE EXTERNAL,
    ALTER COLUMN embeddings SET STORAGE EXTERNAL;

CREATE FUNCTION build_vector_block(book integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO vector_blocks (book_no, ordinals, preorders, embeddings)
    SELECT v.book_no,
           string_agg(int4send(v.ordinal), ''::bytea ORDER BY v.ordinal),
           string_agg(int4send(a.node_preorder), ''::bytea ORDER BY v.ordinal),
           -- halfvec_send: a 2-byte dimension and 2 unused bytes, then the float16s
           string_agg(substring(halfvec_send(v.embedding) FROM 5), ''::bytea ORDER BY v.ordinal)
    FROM atom_vectors v JOIN content_atoms a USING (book_no, ordinal)
    WHERE v.book_no = book AND a.book_no = book
    GROUP BY v.book_no
$$;

SELECT build_vector_block(book_no) FROM books ORDER BY book_no;
