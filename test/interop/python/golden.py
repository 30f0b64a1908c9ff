"""Decodes Capstan's golden CAP vectors with the Python protobuf runtime and re-encodes them deterministically.

For every test/golden/vectors/<name>.bin it prints one JSON line: whether the deterministic re-encoding is byte for
byte the vector (protoc's encoding), and whether any field was unknown to the generated code. cordum.agent.v1 types
come from the official SDK's own generated modules (cap.pb); types the SDK does not have (capstan.bus.v1.DeadLetter)
from a descriptor set that protoc built from Capstan's proto/ (--descriptor-set).
"""

import argparse
import glob
import json
import os

import google.protobuf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import api_implementation

# Importing the SDK's generated modules registers the cordum.agent.v1 types in the default pool.
from cap.pb.cordum.agent.v1 import (  # noqa: F401
    alert_pb2,
    buspacket_pb2,
    handshake_pb2,
    heartbeat_pb2,
    job_pb2,
    safety_pb2,
)


def message_type(txtpb: str) -> str:
    with open(txtpb, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("# proto-message:"):
                return line.split(":", 1)[1].strip()
    raise ValueError(f'{txtpb}: no "# proto-message: <type>" header')


def message_class(name: str, fallback: descriptor_pool.DescriptorPool):
    try:
        return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name)), "cap-sdk-python"
    except KeyError:
        return message_factory.GetMessageClass(fallback.FindMessageTypeByName(name)), "protoc descriptor set"


def first_diff(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check(name: str, path: str, fallback: descriptor_pool.DescriptorPool) -> dict:
    report = {"vector": name, "ok": False}
    type_name = message_type(path[: -len(".bin")] + ".txtpb")
    report["type"] = type_name
    cls, source = message_class(type_name, fallback)
    report["types_from"] = source
    with open(path, "rb") as handle:
        want = handle.read()
    report["bytes"] = len(want)
    msg = cls()
    msg.ParseFromString(want)
    got = msg.SerializeToString(deterministic=True)
    known = cls()
    known.CopyFrom(msg)
    known.DiscardUnknownFields()
    without_unknown = known.SerializeToString(deterministic=True)
    if got != want:
        report["detail"] = f"re-encoding differs at byte {first_diff(got, want)}: got {got.hex()}, want {want.hex()}"
    elif without_unknown != want:
        report["detail"] = "the vector has fields the Python types do not know"
    else:
        report["ok"] = True
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vectors", help="directory of <name>.bin / <name>.txtpb vectors")
    parser.add_argument("--descriptor-set", required=True, help="protoc --include_imports descriptor set of proto/")
    args = parser.parse_args()
    fallback = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet()
    with open(args.descriptor_set, "rb") as handle:
        files.ParseFromString(handle.read())
    for file in files.file:
        fallback.Add(file)
    print(
        json.dumps(
            {
                "runtime": f"protobuf {google.protobuf.__version__} ({api_implementation.Type()})",
            }
        ),
        flush=True,
    )
    for path in sorted(glob.glob(os.path.join(args.vectors, "*.bin"))):
        name = os.path.basename(path)[: -len(".bin")]
        print(json.dumps(check(name, path, fallback)), flush=True)


if __name__ == "__main__":
    main()
