"""UserService: teacher profiles and class artifacts with history (db_user)."""
