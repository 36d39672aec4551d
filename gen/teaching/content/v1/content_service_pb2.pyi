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

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_TEXT: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]

class PedagogyScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PEDAGOGY_SCOPE_UNSPECIFIED: _ClassVar[PedagogyScope]
    PEDAGOGY_SCOPE_GLOBAL: _ClassVar[PedagogyScope]
    PEDAGOGY_SCOPE_PRIVATE: _ClassVar[PedagogyScope]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_TEXT: SearchMode
SEARCH_MODE_HYBRID: SearchMode
PEDAGOGY_SCOPE_UNSPECIFIED: PedagogyScope
PEDAGOGY_SCOPE_GLOBAL: PedagogyScope
PEDAGOGY_SCOPE_PRIVATE: PedagogyScope

class Book(_message.Message):
    __slots__ = ("book_id", "title", "authors", "subject", "grade_level", "page_count", "content_sha256", "embedding_model", "embedding_dimension", "node_count", "atom_count", "create_time")
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    GRADE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ATOM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    title: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    grade_level: str
    page_count: int
    content_sha256: str
    embedding_model: str
    embedding_dimension: int
    node_count: int
    atom_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, book_id: _Optional[str] = ..., title: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., grade_level: _Optional[str] = ..., page_count: _Optional[int] = ..., content_sha256: _Optional[str] = ..., embedding_model: _Optional[str] = ..., embedding_dimension: _Optional[int] = ..., node_count: _Optional[int] = ..., atom_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBooksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBooksResponse(_message.Message):
    __slots__ = ("books", "next_page_token")
    BOOKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    books: _containers.RepeatedCompositeFieldContainer[Book]
    next_page_token: str
    def __init__(self, books: _Optional[_Iterable[_Union[Book, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetBookRequest(_message.Message):
    __slots__ = ("book_id",)
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    def __init__(self, book_id: _Optional[str] = ...) -> None: ...

class GetBookResponse(_message.Message):
    __slots__ = ("book",)
    BOOK_FIELD_NUMBER: _ClassVar[int]
    book: Book
    def __init__(self, book: _Optional[_Union[Book, _Mapping]] = ...) -> None: ...

class DeleteBookRequest(_message.Message):
    __slots__ = ("book_id",)
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    def __init__(self, book_id: _Optional[str] = ...) -> None: ...

class DeleteBookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StructureNode(_message.Message):
    __slots__ = ("node_id", "parent_node_id", "level", "ordinal", "title", "first_page", "last_page")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FIRST_PAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_PAGE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    parent_node_id: str
    level: int
    ordinal: int
    title: str
    first_page: int
    last_page: int
    def __init__(self, node_id: _Optional[str] = ..., parent_node_id: _Optional[str] = ..., level: _Optional[int] = ..., ordinal: _Optional[int] = ..., title: _Optional[str] = ..., first_page: _Optional[int] = ..., last_page: _Optional[int] = ...) -> None: ...

class GetBookOutlineRequest(_message.Message):
    __slots__ = ("book_id",)
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    def __init__(self, book_id: _Optional[str] = ...) -> None: ...

class GetBookOutlineResponse(_message.Message):
    __slots__ = ("book_id", "nodes")
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    nodes: _containers.RepeatedCompositeFieldContainer[StructureNode]
    def __init__(self, book_id: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[StructureNode, _Mapping]]] = ...) -> None: ...

class SearchContentRequest(_message.Message):
    __slots__ = ("query", "query_vector", "book_ids", "node_id", "top_k", "mode")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    QUERY_VECTOR_FIELD_NUMBER: _ClassVar[int]
    BOOK_IDS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    query: str
    query_vector: _containers.RepeatedScalarFieldContainer[float]
    book_ids: _containers.RepeatedScalarFieldContainer[str]
    node_id: str
    top_k: int
    mode: SearchMode
    def __init__(self, query: _Optional[str] = ..., query_vector: _Optional[_Iterable[float]] = ..., book_ids: _Optional[_Iterable[str]] = ..., node_id: _Optional[str] = ..., top_k: _Optional[int] = ..., mode: _Optional[_Union[SearchMode, str]] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("atom_id", "book_id", "node_id", "text", "score", "page_number", "node_path")
    ATOM_ID_FIELD_NUMBER: _ClassVar[int]
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NODE_PATH_FIELD_NUMBER: _ClassVar[int]
    atom_id: str
    book_id: str
    node_id: str
    text: str
    score: float
    page_number: int
    node_path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, atom_id: _Optional[str] = ..., book_id: _Optional[str] = ..., node_id: _Optional[str] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., page_number: _Optional[int] = ..., node_path: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchContentResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ...) -> None: ...

class ContentAtom(_message.Message):
    __slots__ = ("atom_id", "book_id", "node_id", "text", "page_number", "ordinal", "node_path")
    ATOM_ID_FIELD_NUMBER: _ClassVar[int]
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    NODE_PATH_FIELD_NUMBER: _ClassVar[int]
    atom_id: str
    book_id: str
    node_id: str
    text: str
    page_number: int
    ordinal: int
    node_path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, atom_id: _Optional[str] = ..., book_id: _Optional[str] = ..., node_id: _Optional[str] = ..., text: _Optional[str] = ..., page_number: _Optional[int] = ..., ordinal: _Optional[int] = ..., node_path: _Optional[_Iterable[str]] = ...) -> None: ...

class GetContentAtomRequest(_message.Message):
    __slots__ = ("book_id", "atom_id")
    BOOK_ID_FIELD_NUMBER: _ClassVar[int]
    ATOM_ID_FIELD_NUMBER: _ClassVar[int]
    book_id: str
    atom_id: str
    def __init__(self, book_id: _Optional[str] = ..., atom_id: _Optional[str] = ...) -> None: ...

class GetContentAtomResponse(_message.Message):
    __slots__ = ("atom",)
    ATOM_FIELD_NUMBER: _ClassVar[int]
    atom: ContentAtom
    def __init__(self, atom: _Optional[_Union[ContentAtom, _Mapping]] = ...) -> None: ...

class PedagogyStrategy(_message.Message):
    __slots__ = ("strategy_id", "owner_id", "scope", "name", "description", "instructions", "tags", "create_time", "update_time")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    owner_id: str
    scope: PedagogyScope
    name: str
    description: str
    instructions: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, strategy_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., scope: _Optional[_Union[PedagogyScope, str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., instructions: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPedagogyStrategiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "scope")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    scope: PedagogyScope
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., scope: _Optional[_Union[PedagogyScope, str]] = ...) -> None: ...

class ListPedagogyStrategiesResponse(_message.Message):
    __slots__ = ("strategies", "next_page_token")
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[PedagogyStrategy]
    next_page_token: str
    def __init__(self, strategies: _Optional[_Iterable[_Union[PedagogyStrategy, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPedagogyStrategyRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class GetPedagogyStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: PedagogyStrategy
    def __init__(self, strategy: _Optional[_Union[PedagogyStrategy, _Mapping]] = ...) -> None: ...

class CreatePedagogyStrategyRequest(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: PedagogyStrategy
    def __init__(self, strategy: _Optional[_Union[PedagogyStrategy, _Mapping]] = ...) -> None: ...

class CreatePedagogyStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: PedagogyStrategy
    def __init__(self, strategy: _Optional[_Union[PedagogyStrategy, _Mapping]] = ...) -> None: ...

class UpdatePedagogyStrategyRequest(_message.Message):
    __slots__ = ("strategy", "update_mask")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    strategy: PedagogyStrategy
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, strategy: _Optional[_Union[PedagogyStrategy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePedagogyStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: PedagogyStrategy
    def __init__(self, strategy: _Optional[_Union[PedagogyStrategy, _Mapping]] = ...) -> None: ...

class DeletePedagogyStrategyRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class DeletePedagogyStrategyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
