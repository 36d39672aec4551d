"""Regenerates everything in gen/ from protos/ (run as `make gen`).

Outputs, all committed:
  gen/teaching/...                grpcio stubs (*_pb2.py, *_pb2_grpc.py) with .pyi type stubs (mypy-protobuf)
  gen/teaching_betterproto/...    betterproto dataclasses and async clients
  gen/descriptors.binpb           descriptor set (with imports) for Envoy's JSON transcoder
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOTS = [ROOT / "protos", ROOT / "third_party" / "protos"]
WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"
# Not ours but in the descriptor set: Envoy's transcoder renders error details (BadRequest, ...) only
# for types it can resolve there.
DESCRIPTOR_EXTRAS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def our_protos() -> list[str]:
    base = ROOT / "protos"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*.proto"))


def run_protoc(*args: str, extra_inputs: tuple[str, ...] = ()) -> None:
    includes = [f"-I{p}" for p in [*PROTO_ROOTS, WELL_KNOWN]]
    # protoc.main wants argv[0]; the plugins must be on PATH (they sit next to this interpreter).
    code = protoc.main(["protoc", *includes, *args, *our_protos(), *extra_inputs])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}) for {args}")


def add_init_files(package_root: Path) -> None:
    for folder in [package_root, *[p for p in package_root.rglob("*") if p.is_dir()]]:
        if folder.name != "__pycache__":
            (folder / "__init__.py").touch()


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        grpc_out, bp_out = Path(tmp) / "grpc", Path(tmp) / "bp"
        grpc_out.mkdir()
        bp_out.mkdir()
        # mypy-protobuf writes the .pyi of both the messages and the grpc stubs (protoc has none for the latter).
        run_protoc(
            f"--python_out={grpc_out}", f"--mypy_out={grpc_out}", f"--grpc_python_out={grpc_out}",
            f"--mypy_grpc_out={grpc_out}",
        )
        run_protoc(f"--python_betterproto_out={bp_out}")
        run_protoc(
            f"--descriptor_set_out={out / 'descriptors.binpb'}", "--include_imports",
            extra_inputs=tuple(DESCRIPTOR_EXTRAS),
        )

        for name in ["teaching", "teaching_betterproto"]:
            shutil.rmtree(out / name, ignore_errors=True)
        shutil.copytree(grpc_out / "teaching", out / "teaching")
        add_init_files(out / "teaching")
        shutil.copytree(bp_out, out / "teaching_betterproto")
        (out / "teaching_betterproto" / "py.typed").touch()
        (out / "teaching" / "py.typed").touch()


def differences(expected: Path, actual: Path) -> list[str]:
    """Relative paths that differ between two generated trees (missing on either side included)."""

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    left, right = files(expected), files(actual)
    return sorted(name for name in left.keys() | right.keys() if left.get(name) != right.get(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "gen")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
