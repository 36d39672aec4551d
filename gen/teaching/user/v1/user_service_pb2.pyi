import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_QUIZ: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_LESSON_PLAN: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_WORKSHEET: _ClassVar[ArtifactKind]
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_QUIZ: ArtifactKind
ARTIFACT_KIND_LESSON_PLAN: ArtifactKind
ARTIFACT_KIND_WORKSHEET: ArtifactKind

class ActiveBook(_message.Message):
    __slots__ = ("book_id", "current_node_id", "current_page")
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PAGE_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    current_node_id: str
    current_page: int
    def __init__(self, book_id: _Optional[str] = ..., current_node_id: _Optional[str] = ..., current_page: _Optional[int] = ...) -> None: ...

class TeacherProfile(_message.Message):
    __slots__ = ("user_id", "display_name", "grade_levels", "subjects", "language", "default_pedagogy_strategy_id", "active_books", "create_time", "update_time")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GRADE_LEVELS_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PEDAGOGY_STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_BOOKS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    display_name: str
    grade_levels: _containers.RepeatedScalarFieldContainer[str]
    subjects: _containers.RepeatedScalarFieldContainer[str]
    language: str
    default_pedagogy_strategy_id: str
    active_books: _containers.RepeatedCompositeFieldContainer[ActiveBook]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., display_name: _Optional[str] = ..., grade_levels: _Optional[_Iterable[str]] = ..., subjects: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., default_pedagogy_strategy_id: _Optional[str] = ..., active_books: _Optional[_Iterable[_Union[ActiveBook, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: TeacherProfile
    def __init__(self, profile: _Optional[_Union[TeacherProfile, _Mapping]] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: TeacherProfile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[TeacherProfile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: TeacherProfile
    def __init__(self, profile: _Optional[_Union[TeacherProfile, _Mapping]] = ...) -> None: ...

class QuizQuestion(_message.Message):
    __slots__ = ("prompt", "choices", "correct_choice_index", "answer", "explanation")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    CORRECT_CHOICE_INDEX_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    correct_choice_index: int
    answer: str
    explanation: str
    def __init__(self, prompt: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., correct_choice_index: _Optional[int] = ..., answer: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class Quiz(_message.Message):
    __slots__ = ("questions",)
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedCompositeFieldContainer[QuizQuestion]
    def __init__(self, questions: _Optional[_Iterable[_Union[QuizQuestion, _Mapping]]] = ...) -> None: ...

class LessonActivity(_message.Message):
    __slots__ = ("title", "description", "duration_minutes")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    duration_minutes: int
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., duration_minutes: _Optional[int] = ...) -> None: ...

class LessonPlan(_message.Message):
    __slots__ = ("objectives", "activities", "materials")
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    objectives: _containers.RepeatedScalarFieldContainer[str]
    activities: _containers.RepeatedCompositeFieldContainer[LessonActivity]
    materials: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, objectives: _Optional[_Iterable[str]] = ..., activities: _Optional[_Iterable[_Union[LessonActivity, _Mapping]]] = ..., materials: _Optional[_Iterable[str]] = ...) -> None: ...

class WorksheetItem(_message.Message):
    __slots__ = ("prompt", "answer")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    answer: str
    def __init__(self, prompt: _Optional[str] = ..., answer: _Optional[str] = ...) -> None: ...

class Worksheet(_message.Message):
    __slots__ = ("instructions", "items")
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    instructions: str
    items: _containers.RepeatedCompositeFieldContainer[WorksheetItem]
    def __init__(self, instructions: _Optional[str] = ..., items: _Optional[_Iterable[_Union[WorksheetItem, _Mapping]]] = ...) -> None: ...

class AtomReference(_message.Message):
    __slots__ = ("book_id", "atom_id")
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    ATOM_ID_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    atom_id: str
    def __init__(self, book_id: _Optional[str] = ..., atom_id: _Optional[str] = ...) -> None: ...

class ClassArtifact(_message.Message):
    __slots__ = ("artifact_id", "owner_id", "kind", "title", "quiz", "lesson_plan", "worksheet", "book_ids", "atom_references", "pedagogy_strategy_id", "revision", "etag", "create_time", "update_time")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    QUIZ_FIELD_NUMBER: _ClassVar[int]
    LESSON_PLAN_FIELD_NUMBER: _ClassVar[int]
    WORKSHEET_FIELD_NUMBER: _ClassVar[int]
    BOOK_IDS_FIELD_NUMBER: _ClassVar[int]
    ATOM_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    PEDAGOGY_STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    owner_id: str
    kind: ArtifactKind
    title: str
    quiz: Quiz
    lesson_plan: LessonPlan
    worksheet: Worksheet
    book_ids: _containers.RepeatedScalarFieldContainer[str]
    atom_references: _containers.RepeatedCompositeFieldContainer[AtomReference]
    pedagogy_strategy_id: str
    revision: int
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, artifact_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., title: _Optional[str] = ..., quiz: _Optional[_Union[Quiz, _Mapping]] = ..., lesson_plan: _Optional[_Union[LessonPlan, _Mapping]] = ..., worksheet: _Optional[_Union[Worksheet, _Mapping]] = ..., book_ids: _Optional[_Iterable[str]] = ..., atom_references: _Optional[_Iterable[_Union[AtomReference, _Mapping]]] = ..., pedagogy_strategy_id: _Optional[str] = ..., revision: _Optional[int] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateArtifactRequest(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ...) -> None: ...

class CreateArtifactResponse(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ...) -> None: ...

class GetArtifactRequest(_message.Message):
    __slots__ = ("artifact_id",)
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    def __init__(self, artifact_id: _Optional[str] = ...) -> None: ...

class GetArtifactResponse(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "kind", "book_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    kind: ArtifactKind
    book_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., book_id: _Optional[str] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("artifacts", "next_page_token")
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[ClassArtifact]
    next_page_token: str
    def __init__(self, artifacts: _Optional[_Iterable[_Union[ClassArtifact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateArtifactRequest(_message.Message):
    __slots__ = ("artifact", "update_mask")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateArtifactResponse(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ...) -> None: ...

class DeleteArtifactRequest(_message.Message):
    __slots__ = ("artifact_id", "etag")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    etag: str
    def __init__(self, artifact_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteArtifactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ArtifactRevision(_message.Message):
    __slots__ = ("artifact_id", "revision", "artifact", "archive_time")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    revision: int
    artifact: ClassArtifact
    archive_time: _timestamp_pb2.Timestamp
    def __init__(self, artifact_id: _Optional[str] = ..., revision: _Optional[int] = ..., artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ..., archive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListArtifactRevisionsRequest(_message.Message):
    __slots__ = ("artifact_id", "page_size", "page_token")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    page_size: int
    page_token: str
    def __init__(self, artifact_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListArtifactRevisionsResponse(_message.Message):
    __slots__ = ("revisions", "next_page_token")
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    revisions: _containers.RepeatedCompositeFieldContainer[ArtifactRevision]
    next_page_token: str
    def __init__(self, revisions: _Optional[_Iterable[_Union[ArtifactRevision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetArtifactRevisionRequest(_message.Message):
    __slots__ = ("artifact_id", "revision")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    revision: int
    def __init__(self, artifact_id: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class GetArtifactRevisionResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: ArtifactRevision
    def __init__(self, revision: _Optional[_Union[ArtifactRevision, _Mapping]] = ...) -> None: ...

class RollbackArtifactRequest(_message.Message):
    __slots__ = ("artifact_id", "revision", "etag")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    revision: int
    etag: str
    def __init__(self, artifact_id: _Optional[str] = ..., revision: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class RollbackArtifactResponse(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: ClassArtifact
    def __init__(self, artifact: _Optional[_Union[ClassArtifact, _Mapping]] = ...) -> None: ...
