"""Backups: dump db_user with pg_dump, destroy the tables, restore, and find everything again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from google.protobuf import field_mask_pb2

from devstack import Stack
from teaching.user.v1 import user_service_pb2 as pb
from tests.user.support import Library, Teacher, book, lesson_plan, quiz, worksheet

REPO = Path(__file__).resolve().parents[2]


def _backup_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "user_svc.backup", *args],
        cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=120, check=False,
    )


def _snapshot(teacher: Teacher) -> dict[str, Any]:
    """Everything of one teacher, read through gRPC."""
    artifacts = teacher.list_all()
    return {
        "profile": teacher.call("GetProfile", pb.GetProfileRequest()).profile,
        "artifacts": artifacts,
        "revisions": {a.artifact_id: teacher.revisions(a.artifact_id) for a in artifacts},
    }


def _populate(teacher: Teacher, name: str, shared: str) -> None:
    teacher.call("UpdateProfile", pb.UpdateProfileRequest(
        profile=pb.TeacherProfile(display_name=name, subjects=["science"],
                                  active_books=[pb.ActiveBook(book_id=book(), current_page=7)]),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "subjects", "active_books"]),
    ))
    teacher.create(worksheet(f"{name} worksheet"))
    teacher.create(lesson_plan(f"{name} lesson", books=(shared,)))
    edited = teacher.create(quiz(f"{name} quiz", books=(shared,)))
    for title in ("second", "third"):
        edited = teacher.call("UpdateArtifact", pb.UpdateArtifactRequest(
            artifact=pb.ClassArtifact(artifact_id=edited.artifact_id, etag=edited.etag, title=f"{name} {title}"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )).artifact


def test_backup_destroy_restore_round_trip(
    stack: Stack, new_teacher: Callable[[], Teacher], library: Library, tmp_path: Path
) -> None:
    alice, bob = new_teacher(), new_teacher()
    shared = library.book()
    _populate(alice, "Alice", shared)
    _populate(bob, "Bob", shared)
    before = {"alice": _snapshot(alice), "bob": _snapshot(bob)}
    assert sum(len(r) for r in before["alice"]["revisions"].values()) == 2

    backup = tmp_path / "db_user.dump"
    result = _backup_command(stack, "dump", "--out", str(backup))
    assert result.returncode == 0, result.stderr
    assert backup.stat().st_size > 0 and backup.read_bytes()[:5] == b"PGDMP"  # pg_dump custom format

    with psycopg.connect(stack.settings.user_conninfo(), autocommit=True) as conn:
        conn.execute("DROP TABLE artifact_revisions, class_artifacts, teacher_profiles")
        remaining = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN "
            "('artifact_revisions', 'class_artifacts', 'teacher_profiles')"
        ).fetchone()
        assert remaining == (0,)

    result = _backup_command(stack, "restore", "--file", str(backup))
    assert result.returncode == 0, result.stderr

    after = {"alice": _snapshot(alice), "bob": _snapshot(bob)}
    assert after == before
    # The restored schema works for new writes too, and etags still match (no ABORTED after restore).
    current = alice.get(before["alice"]["artifacts"][0].artifact_id)
    updated = alice.call("UpdateArtifact", pb.UpdateArtifactRequest(
        artifact=pb.ClassArtifact(artifact_id=current.artifact_id, etag=current.etag, title="after restore"),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    )).artifact
    assert updated.revision == current.revision + 1


def test_restore_of_a_missing_or_corrupt_file_fails_cleanly(stack: Stack, tmp_path: Path) -> None:
    result = _backup_command(stack, "restore", "--file", str(tmp_path / "nothing.dump"))
    assert result.returncode == 1 and "no backup file" in result.stderr
    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(b"this is not a dump")
    result = _backup_command(stack, "restore", "--file", str(corrupt))
    assert result.returncode == 1 and "pg_restore failed" in result.stderr
    # The database is untouched: the schema is still there.
    with psycopg.connect(stack.settings.user_conninfo()) as conn:
        assert conn.execute("SELECT to_regclass('class_artifacts') IS NOT NULL").fetchone() == (True,)


def test_pg_bin_dir_override_is_used(stack: Stack, tmp_path: Path) -> None:
    bin_dir = str(tmp_path / "no-such-bin")
    env = {**stack.env, "PG_BIN_DIR": bin_dir}
    result = subprocess.run(
        [sys.executable, "-m", "user_svc.backup", "dump", "--out", str(tmp_path / "x.dump")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert f"cannot run {bin_dir}/pg_dump" in result.stderr and "Traceback" not in result.stderr
