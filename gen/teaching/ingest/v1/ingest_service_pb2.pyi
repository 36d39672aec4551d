import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestJobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_JOB_STATE_UNSPECIFIED: _ClassVar[IngestJobState]
    INGEST_JOB_STATE_QUEUED: _ClassVar[IngestJobState]
    INGEST_JOB_STATE_RUNNING: _ClassVar[IngestJobState]
    INGEST_JOB_STATE_SUCCEEDED: _ClassVar[IngestJobState]
    INGEST_JOB_STATE_FAILED: _ClassVar[IngestJobState]
    INGEST_JOB_STATE_CANCELLED: _ClassVar[IngestJobState]

class IngestFailureReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_FAILURE_REASON_UNSPECIFIED: _ClassVar[IngestFailureReason]
    INGEST_FAILURE_REASON_ENCRYPTED: _ClassVar[IngestFailureReason]
    INGEST_FAILURE_REASON_NO_TEXT: _ClassVar[IngestFailureReason]
    INGEST_FAILURE_REASON_CORRUPT: _ClassVar[IngestFailureReason]
    INGEST_FAILURE_REASON_INTERNAL: _ClassVar[IngestFailureReason]

class IngestStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_STAGE_UNSPECIFIED: _ClassVar[IngestStage]
    INGEST_STAGE_PARSING: _ClassVar[IngestStage]
    INGEST_STAGE_EMBEDDING: _ClassVar[IngestStage]
    INGEST_STAGE_LOADING: _ClassVar[IngestStage]
    INGEST_STAGE_DONE: _ClassVar[IngestStage]
INGEST_JOB_STATE_UNSPECIFIED: IngestJobState
INGEST_JOB_STATE_QUEUED: IngestJobState
INGEST_JOB_STATE_RUNNING: IngestJobState
INGEST_JOB_STATE_SUCCEEDED: IngestJobState
INGEST_JOB_STATE_FAILED: IngestJobState
INGEST_JOB_STATE_CANCELLED: IngestJobState
INGEST_FAILURE_REASON_UNSPECIFIED: IngestFailureReason
INGEST_FAILURE_REASON_ENCRYPTED: IngestFailureReason
INGEST_FAILURE_REASON_NO_TEXT: IngestFailureReason
INGEST_FAILURE_REASON_CORRUPT: IngestFailureReason
INGEST_FAILURE_REASON_INTERNAL: IngestFailureReason
INGEST_STAGE_UNSPECIFIED: IngestStage
INGEST_STAGE_PARSING: IngestStage
INGEST_STAGE_EMBEDDING: IngestStage
INGEST_STAGE_LOADING: IngestStage
INGEST_STAGE_DONE: IngestStage

class UploadBookMetadata(_message.Message):
    __slots__ = ("title", "filename", "authors", "subject", "grade_level", "expected_sha256")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    GRADE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHA256_FIELD_NUMBER: _ClassVar[int]
    title: str
    filename: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    grade_level: str
    expected_sha256: str
    def __init__(self, title: _Optional[str] = ..., filename: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., grade_level: _Optional[str] = ..., expected_sha256: _Optional[str] = ...) -> None: ...

class UploadBookRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadBookMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadBookMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadBookResponse(_message.Message):
    __slots__ = ("job", "book_id", "deduplicated")
    JOB_FIELD_NUMBER: _ClassVar[int]
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    job: IngestJob
    book_id: str
    deduplicated: bool
    def __init__(self, job: _Optional[_Union[IngestJob, _Mapping]] = ..., book_id: _Optional[str] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class IngestJob(_message.Message):
    __slots__ = ("job_id", "book_id", "state", "stage", "title", "filename", "content_sha256", "size_bytes", "pages_total", "pages_done", "atoms_written", "failure_reason", "error_message", "created_by", "create_time", "update_time", "end_time")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PAGES_DONE_FIELD_NUMBER: _ClassVar[int]
    ATOMS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    book_id: str
    state: IngestJobState
    stage: IngestStage
    title: str
    filename: str
    content_sha256: str
    size_bytes: int
    pages_total: int
    pages_done: int
    atoms_written: int
    failure_reason: IngestFailureReason
    error_message: str
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., book_id: _Optional[str] = ..., state: _Optional[_Union[IngestJobState, str]] = ..., stage: _Optional[_Union[IngestStage, str]] = ..., title: _Optional[str] = ..., filename: _Optional[str] = ..., content_sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., pages_total: _Optional[int] = ..., pages_done: _Optional[int] = ..., atoms_written: _Optional[int] = ..., failure_reason: _Optional[_Union[IngestFailureReason, str]] = ..., error_message: _Optional[str] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetIngestJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetIngestJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: IngestJob
    def __init__(self, job: _Optional[_Union[IngestJob, _Mapping]] = ...) -> None: ...

class ListIngestJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: IngestJobState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[IngestJobState, str]] = ...) -> None: ...

class ListIngestJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[IngestJob]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[IngestJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelIngestJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelIngestJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: IngestJob
    def __init__(self, job: _Optional[_Union[IngestJob, _Mapping]] = ...) -> None: ...

class WatchIngestJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchIngestJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: IngestJob
    def __init__(self, job: _Optional[_Union[IngestJob, _Mapping]] = ...) -> None: ...
