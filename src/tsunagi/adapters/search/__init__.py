"""The knowledge search index on SQLite and PostgreSQL (postings tables, BM25 in SQL)."""
