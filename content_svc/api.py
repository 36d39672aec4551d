"""gRPC layer of ContentService: translates messages to use-case calls and back, nothing else."""

from __future__ import annotations

import grpc

from common.auth import require_admin, require_teacher
from common.convert import timestamp
from common.errors import InvalidArgument
from common.ids import parse_id, parse_ids, parse_optional_id
from content_svc.rules.search import DEFAULT_TOP_K
from content_svc.rules.types import (
    Atom,
    Book,
    Node,
    Scope,
    SearchMode,
    SearchQuery,
    Strategy,
    StrategyFields,
)
from content_svc.usecases import ContentUseCases
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

_MODES: dict[int, SearchMode] = {
    pb.SEARCH_MODE_UNSPECIFIED: SearchMode.HYBRID,
    pb.SEARCH_MODE_HYBRID: SearchMode.HYBRID,
    pb.SEARCH_MODE_VECTOR: SearchMode.VECTOR,
    pb.SEARCH_MODE_TEXT: SearchMode.TEXT,
}
_SCOPES: dict[int, Scope] = {
    pb.PEDAGOGY_SCOPE_UNSPECIFIED: Scope.ANY,
    pb.PEDAGOGY_SCOPE_GLOBAL: Scope.GLOBAL,
    pb.PEDAGOGY_SCOPE_PRIVATE: Scope.PRIVATE,
}


def _scope(value: int, field: str) -> Scope:
    scope = _SCOPES.get(value)
    if scope is None:
        raise InvalidArgument({field: f"unknown scope {value}"})
    return scope


def book_message(book: Book) -> pb.Book:
    return pb.Book(
        book_id=str(book.book_id), title=book.title, authors=book.authors, subject=book.subject,
        grade_level=book.grade_level, page_count=book.page_count, content_sha256=book.content_sha256,
        embedding_model=book.embedding_model, embedding_dimension=book.embedding_dimension,
        node_count=book.node_count, atom_count=book.atom_count, create_time=timestamp(book.create_time),
    )


def node_message(node: Node) -> pb.StructureNode:
    return pb.StructureNode(
        node_id=str(node.node_id), parent_node_id=str(node.parent_node_id) if node.parent_node_id else "",
        level=node.level, ordinal=node.ordinal, title=node.title, first_page=node.first_page,
        last_page=node.last_page,
    )


def atom_message(atom: Atom) -> pb.ContentAtom:
    return pb.ContentAtom(
        atom_id=str(atom.atom_id), book_id=str(atom.book_id), node_id=str(atom.node_id), text=atom.text,
        page_number=atom.page_number, ordinal=atom.ordinal, node_path=atom.node_path,
    )


def strategy_message(strategy: Strategy) -> pb.PedagogyStrategy:
    return pb.PedagogyStrategy(
        strategy_id=str(strategy.strategy_id), owner_id=strategy.owner_id or "",
        scope=pb.PEDAGOGY_SCOPE_GLOBAL if strategy.is_global else pb.PEDAGOGY_SCOPE_PRIVATE,
        name=strategy.name, description=strategy.description, instructions=strategy.instructions,
        tags=strategy.tags, create_time=timestamp(strategy.create_time),
        update_time=timestamp(strategy.update_time),
    )


def _fields(strategy: pb.PedagogyStrategy) -> StrategyFields:
    return StrategyFields(
        name=strategy.name, description=strategy.description, instructions=strategy.instructions,
        tags=list(strategy.tags),
    )


class ContentServicer(content_service_pb2_grpc.ContentServiceServicer):  # type: ignore[misc]
    def __init__(self, usecases: ContentUseCases) -> None:
        self._usecases = usecases

    def ListBooks(self, request: pb.ListBooksRequest, context: grpc.ServicerContext) -> pb.ListBooksResponse:
        require_teacher()
        page = self._usecases.list_books(request.page_size, request.page_token)
        return pb.ListBooksResponse(
            books=[book_message(b) for b in page.items], next_page_token=page.next_page_token
        )

    def GetBook(self, request: pb.GetBookRequest, context: grpc.ServicerContext) -> pb.GetBookResponse:
        require_teacher()
        return pb.GetBookResponse(book=book_message(self._usecases.get_book(parse_id(request.book_id, "book_id"))))

    def BatchGetBooks(
        self, request: pb.BatchGetBooksRequest, context: grpc.ServicerContext
    ) -> pb.BatchGetBooksResponse:
        require_teacher()
        book_ids = parse_ids([(f"book_ids[{i}]", value) for i, value in enumerate(request.book_ids)])
        batch = self._usecases.batch_get_books(book_ids)
        return pb.BatchGetBooksResponse(
            books=[book_message(b) for b in batch.found], missing_book_ids=[str(i) for i in batch.missing]
        )

    def DeleteBook(self, request: pb.DeleteBookRequest, context: grpc.ServicerContext) -> pb.DeleteBookResponse:
        require_admin()
        self._usecases.delete_book(parse_id(request.book_id, "book_id"))
        return pb.DeleteBookResponse()

    def GetBookOutline(
        self, request: pb.GetBookOutlineRequest, context: grpc.ServicerContext
    ) -> pb.GetBookOutlineResponse:
        require_teacher()
        book_id = parse_id(request.book_id, "book_id")
        nodes = self._usecases.outline(book_id)
        return pb.GetBookOutlineResponse(book_id=str(book_id), nodes=[node_message(n) for n in nodes])

    def GetStructureNode(
        self, request: pb.GetStructureNodeRequest, context: grpc.ServicerContext
    ) -> pb.GetStructureNodeResponse:
        require_teacher()
        book_id, node_id = parse_ids([("book_id", request.book_id), ("node_id", request.node_id)])
        view = self._usecases.get_node(book_id, node_id)
        return pb.GetStructureNodeResponse(
            node=node_message(view.node), ancestors=[node_message(n) for n in view.ancestors],
            children=[node_message(n) for n in view.children],
        )

    def SearchContent(
        self, request: pb.SearchContentRequest, context: grpc.ServicerContext
    ) -> pb.SearchContentResponse:
        require_teacher()
        if request.mode not in _MODES:
            raise InvalidArgument({"mode": f"unknown search mode {request.mode}"})
        book_ids = [parse_id(value, f"book_ids[{i}]") for i, value in enumerate(request.book_ids)]
        node_id = parse_optional_id(request.node_id, "node_id")
        hits = self._usecases.search(SearchQuery(
            book_ids=book_ids, text=request.query, vector=list(request.query_vector) or None, node_id=node_id,
            top_k=request.top_k or DEFAULT_TOP_K, mode=_MODES[request.mode],
        ))
        return pb.SearchContentResponse(results=[
            pb.SearchResult(
                atom_id=str(hit.atom.atom_id), book_id=str(hit.atom.book_id), node_id=str(hit.atom.node_id),
                text=hit.atom.text, score=hit.score, page_number=hit.atom.page_number,
                node_path=hit.atom.node_path,
            )
            for hit in hits
        ])

    def GetContentAtom(
        self, request: pb.GetContentAtomRequest, context: grpc.ServicerContext
    ) -> pb.GetContentAtomResponse:
        require_teacher()
        book_id = parse_id(request.book_id, "book_id")
        atom_id = parse_id(request.atom_id, "atom_id")
        return pb.GetContentAtomResponse(atom=atom_message(self._usecases.get_atom(book_id, atom_id)))

    def ListContentAtoms(
        self, request: pb.ListContentAtomsRequest, context: grpc.ServicerContext
    ) -> pb.ListContentAtomsResponse:
        require_teacher()
        book_id = parse_id(request.book_id, "book_id")
        node_id = parse_optional_id(request.node_id, "node_id")
        page = self._usecases.list_atoms(book_id, node_id, request.page_size, request.page_token)
        return pb.ListContentAtomsResponse(
            atoms=[atom_message(a) for a in page.items], next_page_token=page.next_page_token
        )

    def BatchGetContentAtoms(
        self, request: pb.BatchGetContentAtomsRequest, context: grpc.ServicerContext
    ) -> pb.BatchGetContentAtomsResponse:
        require_teacher()
        ids = parse_ids([
            (f"requests[{i}].{field}", getattr(item, field))
            for i, item in enumerate(request.requests) for field in ("book_id", "atom_id")
        ])
        batch = self._usecases.batch_get_atoms(list(zip(ids[::2], ids[1::2], strict=True)))
        return pb.BatchGetContentAtomsResponse(
            atoms=[atom_message(a) for a in batch.found],
            missing=[pb.GetContentAtomRequest(book_id=str(b), atom_id=str(a)) for b, a in batch.missing],
        )

    def CheckReferences(
        self, request: pb.CheckReferencesRequest, context: grpc.ServicerContext
    ) -> pb.CheckReferencesResponse:
        caller = require_teacher()
        books = [(f"book_ids[{i}]", value) for i, value in enumerate(request.book_ids)]
        atoms = [(f"atoms[{i}].{field}", getattr(atom, field)) for i, atom in enumerate(request.atoms)
                 for field in ("book_id", "atom_id")]
        strategies = [(f"pedagogy_strategy_ids[{i}]", value) for i, value in enumerate(request.pedagogy_strategy_ids)]
        ids = iter(parse_ids([*books, *atoms, *strategies]))  # one INVALID_ARGUMENT naming every bad id
        book_ids = [next(ids) for _ in books]
        atom_keys = [(next(ids), next(ids)) for _ in request.atoms]
        missing = self._usecases.check_references(caller, book_ids, atom_keys, list(ids))
        return pb.CheckReferencesResponse(
            missing_book_ids=[str(book_id) for book_id in missing.book_ids],
            missing_atoms=[pb.GetContentAtomRequest(book_id=str(b), atom_id=str(a)) for b, a in missing.atoms],
            missing_pedagogy_strategy_ids=[str(strategy_id) for strategy_id in missing.strategy_ids],
        )

    def GetContentAtomContext(
        self, request: pb.GetContentAtomContextRequest, context: grpc.ServicerContext
    ) -> pb.GetContentAtomContextResponse:
        require_teacher()
        book_id, atom_id = parse_ids([("book_id", request.book_id), ("atom_id", request.atom_id)])
        window = self._usecases.atom_context(book_id, atom_id, request.radius)
        return pb.GetContentAtomContextResponse(
            before=[atom_message(a) for a in window.before], atom=atom_message(window.atom),
            after=[atom_message(a) for a in window.after],
        )

    def ListPedagogyStrategies(
        self, request: pb.ListPedagogyStrategiesRequest, context: grpc.ServicerContext
    ) -> pb.ListPedagogyStrategiesResponse:
        caller = require_teacher()
        page = self._usecases.list_strategies(
            caller, _scope(request.scope, "scope"), request.page_size, request.page_token
        )
        return pb.ListPedagogyStrategiesResponse(
            strategies=[strategy_message(s) for s in page.items], next_page_token=page.next_page_token
        )

    def GetPedagogyStrategy(
        self, request: pb.GetPedagogyStrategyRequest, context: grpc.ServicerContext
    ) -> pb.GetPedagogyStrategyResponse:
        caller = require_teacher()
        strategy = self._usecases.get_strategy(caller, parse_id(request.strategy_id, "strategy_id"))
        return pb.GetPedagogyStrategyResponse(strategy=strategy_message(strategy))

    def CreatePedagogyStrategy(
        self, request: pb.CreatePedagogyStrategyRequest, context: grpc.ServicerContext
    ) -> pb.CreatePedagogyStrategyResponse:
        caller = require_teacher()
        if not request.HasField("strategy"):
            raise InvalidArgument({"strategy": "is required"})
        scope = _scope(request.strategy.scope, "strategy.scope")
        strategy = self._usecases.create_strategy(
            caller, Scope.PRIVATE if scope is Scope.ANY else scope, _fields(request.strategy)
        )
        return pb.CreatePedagogyStrategyResponse(strategy=strategy_message(strategy))

    def UpdatePedagogyStrategy(
        self, request: pb.UpdatePedagogyStrategyRequest, context: grpc.ServicerContext
    ) -> pb.UpdatePedagogyStrategyResponse:
        caller = require_teacher()
        if not request.HasField("strategy"):
            raise InvalidArgument({"strategy": "is required"})
        strategy_id = parse_id(request.strategy.strategy_id, "strategy.strategy_id")
        strategy = self._usecases.update_strategy(
            caller, strategy_id, _fields(request.strategy), list(request.update_mask.paths)
        )
        return pb.UpdatePedagogyStrategyResponse(strategy=strategy_message(strategy))

    def DeletePedagogyStrategy(
        self, request: pb.DeletePedagogyStrategyRequest, context: grpc.ServicerContext
    ) -> pb.DeletePedagogyStrategyResponse:
        caller = require_teacher()
        self._usecases.delete_strategy(caller, parse_id(request.strategy_id, "strategy_id"))
        return pb.DeletePedagogyStrategyResponse()
