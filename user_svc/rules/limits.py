"""Size limits of UserService input (documented in docs/user_service.md).

They keep one teacher's rows small enough to load whole and make abuse cheap to refuse; input over a
limit gets INVALID_ARGUMENT with a field violation and nothing is written.
"""

from __future__ import annotations

TITLE_MAX_CHARS = 200
DISPLAY_NAME_MAX_CHARS = 100
# A body (Quiz, LessonPlan or Worksheet) serialized as protobuf.
BODY_MAX_BYTES = 256 * 1024
# Questions of a quiz, items of a worksheet, activities of a lesson plan.
BODY_ENTRIES_MAX = 200
# Every other repeated field: grade_levels, subjects, active_books, book_ids, atom_references,
# objectives, materials, choices.
LIST_MAX_ITEMS = 50
# One entry of a short string list (grade level, subject, objective, material, choice).
SHORT_TEXT_MAX_CHARS = 500
# Free text inside a body (prompt, answer, explanation, description, instructions).
LONG_TEXT_MAX_CHARS = 20_000
LANGUAGE_TAG_MAX_CHARS = 35
LESSON_ACTIVITY_MAX_MINUTES = 24 * 60
PAGE_NUMBER_MAX = 1_000_000
