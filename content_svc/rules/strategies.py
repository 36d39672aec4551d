"""Pedagogy strategy rules: who may see and write which strategy, and what a valid strategy is."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from common.auth import Identity
from common.errors import InvalidArgument, NotFound, PermissionDenied
from content_svc.rules.types import Scope, Strategy, StrategyFields

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
MAX_INSTRUCTIONS_CHARS = 20000
MAX_TAGS = 32
MAX_TAG_CHARS = 64
UPDATABLE_STRATEGY_FIELDS = ("name", "description", "instructions", "tags")


def validate_fields(fields: StrategyFields, paths: Sequence[str] = UPDATABLE_STRATEGY_FIELDS) -> StrategyFields:
    """Trimmed, checked copy of the fields named in `paths`; InvalidArgument naming every bad one."""
    violations: dict[str, str] = {}
    name = fields.name.strip()
    if "name" in paths:
        if not name:
            violations["strategy.name"] = "is required"
        elif len(name) > MAX_NAME_CHARS:
            violations["strategy.name"] = f"at most {MAX_NAME_CHARS} characters"
    if "description" in paths and len(fields.description) > MAX_DESCRIPTION_CHARS:
        violations["strategy.description"] = f"at most {MAX_DESCRIPTION_CHARS} characters"
    if "instructions" in paths and len(fields.instructions) > MAX_INSTRUCTIONS_CHARS:
        violations["strategy.instructions"] = f"at most {MAX_INSTRUCTIONS_CHARS} characters"
    tags = [tag.strip() for tag in fields.tags]
    if "tags" in paths:
        if len(tags) > MAX_TAGS:
            violations["strategy.tags"] = f"at most {MAX_TAGS} tags"
        elif any(not tag or len(tag) > MAX_TAG_CHARS for tag in tags):
            violations["strategy.tags"] = f"tags must be 1..{MAX_TAG_CHARS} characters"
    if violations:
        raise InvalidArgument(violations)
    return StrategyFields(name=name, description=fields.description, instructions=fields.instructions,
                          tags=list(dict.fromkeys(tags)))


def changes(fields: StrategyFields, paths: Sequence[str]) -> dict[str, Any]:
    """The column values an update with this field mask writes (checked, trimmed)."""
    if not paths:
        raise InvalidArgument({"update_mask": "name at least one of " + ", ".join(UPDATABLE_STRATEGY_FIELDS)})
    unknown = [p for p in paths if p not in UPDATABLE_STRATEGY_FIELDS]
    if unknown:
        raise InvalidArgument({
            "update_mask": f"cannot update {', '.join(unknown)}; updatable: " + ", ".join(UPDATABLE_STRATEGY_FIELDS)
        })
    clean = validate_fields(fields, paths)
    return {path: getattr(clean, path) for path in dict.fromkeys(paths)}


def owner_for_new(caller: Identity, scope: Scope) -> str | None:
    """The owner a new strategy gets (None: global); only admins create global ones."""
    if scope is Scope.GLOBAL:
        if not caller.is_admin:
            raise PermissionDenied("only admins can create global pedagogy strategies")
        return None
    return caller.user_id


def check_writable(caller: Identity, strategy_id: uuid.UUID, strategy: Strategy | None) -> Strategy:
    """The strategy if `caller` may change it. Someone else's private strategy is reported as
    missing: its existence is not revealed."""
    if strategy is None or (strategy.owner_id is not None and strategy.owner_id != caller.user_id):
        raise NotFound("pedagogy strategy", str(strategy_id))
    if strategy.is_global and not caller.is_admin:
        raise PermissionDenied("only admins can change global pedagogy strategies")
    return strategy
