"""ContentService: books, their structure, retrievable passages and pedagogy strategies (db_content)."""
