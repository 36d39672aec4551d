-- db_content stores embeddings: enable pgvector first.
CREATE EXTENSION IF NOT EXISTS vector;
