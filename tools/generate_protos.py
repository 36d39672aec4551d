"""Regenerates everything in gen/ from protos/ (run as `make gen`).

Outputs, all committed:
  gen/teaching/...                grpcio stubs (*_pb2.py, *_pb2_grpc.py) with .pyi type stubs
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


def our_protos() -> list[str]:
    base = ROOT / "protos"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*.proto"))


def run_protoc(*args: str) -> None:
    includes = [f"-I{p}" for p in [*PROTO_ROOTS, WELL_KNOWN]]
    # protoc.main wants argv[0]; the plugins must be on PATH (they sit next to this interpreter).
    code = protoc.main(["protoc", *includes, *args, *our_protos()])
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
        run_protoc(f"--python_out={grpc_out}", f"--pyi_out={grpc_out}", f"--grpc_python_out={grpc_out}")
        run_protoc(f"--python_betterproto_out={bp_out}")
        run_protoc(f"--descriptor_set_out={out / 'descriptors.binpb'}", "--include_imports")

        for name in ["teaching", "teaching_betterproto"]:
            shutil.rmtree(out / name, ignore_errors=True)
        shutil.copytree(grpc_out / "teaching", out / "teaching")
        add_init_files(out / "teaching")
        shutil.copytree(bp_out, out / "teaching_betterproto")
        (out / "teaching_betterproto" / "py.typed").touch()
        (out / "teaching" / "py.typed").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "gen")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
