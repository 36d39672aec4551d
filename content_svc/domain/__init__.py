"""ContentService domain: plain types and the rules (visibility, validation, retrieval)."""
