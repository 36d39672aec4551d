-- Superseded by 0007, which creates the same index on the shared table (book_no, page_number, ordinal).
-- Reading order (page number, then position in the book) as an index, so reading a node page by
-- page and the window of atoms around an atom are short index range scans (keyset pagination),
-- not sorts of the whole book. Created on every partition, and by ATTACH on the ones loaded later.
-- depends: 0005_seed_pedagogy_strategies

CREATE INDEX content_atoms_reading_order_idx ON content_atoms (book_id, page_number, ordinal);
