"""The betterproto package (typed dataclasses + async grpclib clients) talks to our real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import betterproto.lib.google.protobuf as wkt
import grpclib
import pytest
from grpclib.client import Channel

from devstack import Stack
from teaching_betterproto.teaching.content import v1 as content_v1
from teaching_betterproto.teaching.user import v1 as user_v1


def _channel(stack: Stack, name: str) -> Channel:
    host, port = stack.address(name).rsplit(":", 1)
    return Channel(host, int(port))


def test_async_client_reads_and_writes_a_profile(stack: Stack, make_token: Callable[..., str]) -> None:
    async def scenario() -> tuple[user_v1.TeacherProfile, user_v1.TeacherProfile]:
        channel = _channel(stack, "user")
        try:
            stub = user_v1.UserServiceStub(channel, metadata={"authorization": f"Bearer {make_token('bp-teacher')}"})
            first = (await stub.get_profile(user_v1.GetProfileRequest())).profile
            updated = await stub.update_profile(
                user_v1.UpdateProfileRequest(
                    profile=user_v1.TeacherProfile(display_name="Ms. Betterproto", subjects=["math"]),
                    update_mask=wkt.FieldMask(paths=["display_name", "subjects"]),
                )
            )
            return first, updated.profile
        finally:
            channel.close()

    first, updated = asyncio.run(scenario())
    assert first.user_id == "bp-teacher"
    assert updated.display_name == "Ms. Betterproto"
    assert updated.subjects == ["math"]


def test_async_client_sees_grpc_errors_as_typed_exceptions(stack: Stack, make_token: Callable[..., str]) -> None:
    async def scenario() -> None:
        channel = _channel(stack, "content")
        try:
            stub = content_v1.ContentServiceStub(channel, metadata={"authorization": f"Bearer {make_token('bp')}"})
            await stub.get_book(content_v1.GetBookRequest(book_id="00000000-0000-4000-8000-000000000000"))
        finally:
            channel.close()

    with pytest.raises(grpclib.GRPCError) as error:
        asyncio.run(scenario())
    assert error.value.status == grpclib.Status.NOT_FOUND


def test_async_client_without_token_is_unauthenticated(stack: Stack) -> None:
    async def scenario() -> None:
        channel = _channel(stack, "content")
        try:
            await content_v1.ContentServiceStub(channel).list_books(content_v1.ListBooksRequest())
        finally:
            channel.close()

    with pytest.raises(grpclib.GRPCError) as error:
        asyncio.run(scenario())
    assert error.value.status == grpclib.Status.UNAUTHENTICATED
