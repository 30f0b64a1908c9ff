"""A CAP client built only with the official Python SDK (cap-sdk-python), run against Capstan by the interop suite.

  submit  stores the input at redis ctx:<job_id>, submits a JobRequest on sys.job.submit (cap.submit_job, signed
          when --signing-key is given) and, with --wait, waits for the job's JobResult on sys.job.result and reads
          the output back through its result_ptr.
  cancel  publishes a JobCancel on sys.job.cancel (cap.cancel_payload + cap.emit_cancel).
  check   asks the safety kernel over plain gRPC with the SDK's generated stub (safety_pb2_grpc.SafetyKernelStub),
          as a policy author's Python service would: Check, Evaluate and Explain for one request, and ListSnapshots.

It prints one JSON object on stdout ({"event": "submitted" | "result" | "cancelled", ...}).
"""

import argparse
import asyncio
import json
from typing import Optional

import nats
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cap import SUBJECT_DLQ, SUBJECT_RESULT, cancel_payload, emit_cancel, submit_job
from cap.pb.cordum.agent.v1 import buspacket_pb2, job_pb2
from cap.runtime import RedisBlobStore, key_from_pointer, pointer_for_key


def load_private_key(path: Optional[str]) -> Optional[ec.EllipticCurvePrivateKey]:
    if not path:
        return None
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


# docs:start python-client
async def submit(args: argparse.Namespace) -> dict:
    nc = await nats.connect(args.nats)
    store = RedisBlobStore(args.redis)
    try:
        # The SDK's workers read their input from the Redis key behind context_ptr.
        await store.set(f"ctx:{args.job_id}", json.dumps(json.loads(args.input)).encode())
        request = job_pb2.JobRequest(
            job_id=args.job_id,
            topic=args.topic,
            context_ptr=pointer_for_key(f"ctx:{args.job_id}"),
            tenant_id=args.tenant,
        )
        outcome: asyncio.Future = asyncio.get_running_loop().create_future()

        async def on_result(msg) -> None:
            packet = buspacket_pb2.BusPacket()
            packet.ParseFromString(msg.data)
            if packet.HasField("job_result") and packet.job_result.job_id == args.job_id and not outcome.done():
                outcome.set_result((msg.subject, packet))

        if args.wait > 0:
            # A worker reports on sys.job.result; a job that never reached one (denied by policy, no worker...)
            # is announced by the scheduler on sys.job.dlq.
            await nc.subscribe(SUBJECT_RESULT, cb=on_result)
            await nc.subscribe(SUBJECT_DLQ, cb=on_result)
            await nc.flush()
        # Capstan's scheduler takes the request from sys.job.submit, asks its policy, and dispatches it on the
        # topic subject, where the SDK worker's queue subscription picks it up.
        await submit_job(nc, request, args.trace_id, args.sender_id, load_private_key(args.signing_key))
        await nc.flush()
        if args.wait <= 0:
            return {"event": "submitted", "job_id": args.job_id}
        subject, packet = await asyncio.wait_for(outcome, timeout=args.wait)
        result = packet.job_result
        output = None
        if result.result_ptr:
            output = json.loads(await store.get(key_from_pointer(result.result_ptr)))
        return {
            "event": "result",
            "subject": subject,
            "job_id": result.job_id,
            "status": job_pb2.JobStatus.Name(result.status),
            "result_ptr": result.result_ptr,
            "worker_id": result.worker_id,
            "trace_id": packet.trace_id,
            "error_code": result.error_code,
            "error_message": result.error_message,
            "output": output,
        }
    finally:
        await nc.drain()
        await store.close()
# docs:end python-client


async def cancel(args: argparse.Namespace) -> dict:
    nc = await nats.connect(args.nats)
    try:
        payload = cancel_payload(args.sender_id, args.job_id, args.reason, args.sender_id)
        await emit_cancel(nc, payload, load_private_key(args.signing_key))
        await nc.flush()
        return {"event": "cancelled", "job_id": args.job_id}
    finally:
        await nc.drain()


# docs:start python-check
def check(args: argparse.Namespace) -> dict:
    import grpc
    from google.protobuf import json_format

    from cap.pb.cordum.agent.v1 import job_pb2 as jobs
    from cap.pb.cordum.agent.v1 import safety_pb2, safety_pb2_grpc

    request = safety_pb2.PolicyCheckRequest(
        job_id=args.job_id,
        topic=args.topic,
        tenant=args.tenant,
        meta=jobs.JobMetadata(tenant_id=args.tenant, capability="interop", risk_tags=["read"]),
    )
    as_json = lambda message: json_format.MessageToDict(message, preserving_proto_field_name=True)
    with grpc.insecure_channel(args.kernel) as channel:
        kernel = safety_pb2_grpc.SafetyKernelStub(channel)
        return {
            "event": "checked",
            "check": as_json(kernel.Check(request, timeout=10)),
            "evaluate": as_json(kernel.Evaluate(request, timeout=10)),
            "explain": as_json(kernel.Explain(request, timeout=10)),
            "snapshots": as_json(kernel.ListSnapshots(safety_pb2.ListSnapshotsRequest(), timeout=10)),
        }
# docs:end python-check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("submit", "cancel"):
        command = sub.add_parser(name)
        command.add_argument("--nats", required=True)
        command.add_argument("--job-id", required=True)
        command.add_argument("--sender-id", default="python-client")
        command.add_argument("--signing-key", help="PEM ECDSA P-256 private key to sign with")
    submit_parser = sub.choices["submit"]
    submit_parser.add_argument("--redis", required=True)
    submit_parser.add_argument("--topic", required=True)
    submit_parser.add_argument("--trace-id", required=True)
    submit_parser.add_argument("--tenant", default="")
    submit_parser.add_argument("--input", default="{}", help="JSON input stored behind context_ptr")
    submit_parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the JobResult (0: none)")
    sub.choices["cancel"].add_argument("--reason", default="cancelled by the python client")
    check_parser = sub.add_parser("check")
    check_parser.add_argument("--kernel", required=True, help="host:port of the safety kernel (gRPC, plaintext)")
    check_parser.add_argument("--job-id", required=True)
    check_parser.add_argument("--topic", required=True)
    check_parser.add_argument("--tenant", default="default")
    args = parser.parse_args()
    if args.command == "check":
        print(json.dumps(check(args)), flush=True)
        return
    run = submit if args.command == "submit" else cancel
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
