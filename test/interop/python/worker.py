"""A CAP worker built only with the official Python SDK (cap-sdk-python), run against Capstan by the interop suite.

Two shapes, both from the SDK's public API:
  --mode agent     the high-level runtime (cap.runtime.Agent): context_ptr in, result_ptr out, heartbeats, handshake.
  --mode lowlevel  cap.run_worker + cap.heartbeat_loop + cap.publish_handshake: the handler returns a JobResult
                   itself, which is the only way the SDK can report FAILED_RETRYABLE / FAILED_FATAL.

It prints one JSON object per line on stdout ({"event": "ready" | "started" | "finished", ...}) for the driver;
the SDK's own logging goes to stderr.
"""

import argparse
import asyncio
import json
import signal
import sys
from typing import Dict, Optional

import nats
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cap import heartbeat_loop, heartbeat_payload, publish_handshake, run_worker
from cap.pb.cordum.agent.v1 import job_pb2
from cap.runtime import Agent, Context, RedisBlobStore, key_from_pointer, pointer_for_key


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def load_private_key(path: Optional[str]) -> Optional[ec.EllipticCurvePrivateKey]:
    if not path:
        return None
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{path}: expected an ECDSA P-256 private key")
    return key


def load_public_keys(specs: list) -> Optional[Dict[str, ec.EllipticCurvePublicKey]]:
    """--trust SENDER=PEM_FILE, repeatable. None (no --trust) means the SDK accepts unsigned packets."""
    if not specs:
        return None
    keys: Dict[str, ec.EllipticCurvePublicKey] = {}
    for spec in specs:
        sender, _, path = spec.partition("=")
        with open(path, "rb") as handle:
            keys[sender] = serialization.load_pem_public_key(handle.read())
    return keys


# docs:start python-agent
def build_agent(args: argparse.Namespace) -> Agent:
    agent = Agent(
        nats_url=args.nats,  # the NATS server(s) Capstan uses
        redis_url=args.redis,  # the Redis behind Capstan's redis:// pointers
        worker_id=args.worker_id,  # sender_id of every packet; the id Capstan lists the worker under
        pool=args.topic,  # Capstan routes a topic to workers whose heartbeat pool is the topic (or its pool)
        max_parallel=4,
        heartbeat_interval=args.heartbeat_interval,
        private_key=load_private_key(args.signing_key),  # signs results, heartbeats and the handshake
        public_keys=load_public_keys(args.trust),  # verifies dispatches (e.g. {scheduler_id: key})
    )

    @agent.job(args.topic)
    async def handle(ctx: Context, data: dict) -> dict:
        # `data` is the JSON behind the job's context_ptr (redis://ctx:<job_id>); the returned dict is stored at
        # res:<job_id> and reported as SUCCEEDED with result_ptr redis://res:<job_id>.
        action = data.get("action")
        if action == "sleep":
            emit("started", job_id=ctx.job_id)
            await asyncio.sleep(float(data["seconds"]))
            emit("finished", job_id=ctx.job_id)
            return {"slept": data["seconds"], "worker_id": args.worker_id}
        if action == "fail":
            raise RuntimeError(data.get("message", "failed on purpose"))
        return {
            "echo": data.get("value"),
            "worker_id": args.worker_id,
            "job_id": ctx.job_id,
            "trace_id": ctx.trace_id,
            "language": "python",
        }

    return agent
# docs:end python-agent


async def run_agent(args: argparse.Namespace, stop: asyncio.Event) -> None:
    agent = build_agent(args)
    await agent.start()
    emit("ready", worker_id=args.worker_id, mode="agent")
    try:
        await stop.wait()
    finally:
        await agent.close()


async def run_lowlevel(args: argparse.Namespace, stop: asyncio.Event) -> None:
    private_key = load_private_key(args.signing_key)
    store = RedisBlobStore(args.redis)
    attempts: Dict[str, int] = {}

    async def handle(req: job_pb2.JobRequest) -> job_pb2.JobResult:
        raw = await store.get(key_from_pointer(req.context_ptr))
        data = json.loads(raw) if raw else {}
        attempts[req.job_id] = attempts.get(req.job_id, 0) + 1
        emit("started", job_id=req.job_id, attempt=attempts[req.job_id])
        if data.get("action") == "flaky" and attempts[req.job_id] < 2:
            return job_pb2.JobResult(
                job_id=req.job_id,
                status=job_pb2.JOB_STATUS_FAILED_RETRYABLE,
                error_code="1001",
                error_message="transient failure, try again",
            )
        if data.get("action") == "fatal":
            return job_pb2.JobResult(
                job_id=req.job_id,
                status=job_pb2.JOB_STATUS_FAILED_FATAL,
                error_code="203",
                error_message="input rejected for good",
            )
        key = f"res:{req.job_id}"
        await store.set(key, json.dumps({"attempts": attempts[req.job_id], "worker_id": args.worker_id}).encode())
        return job_pb2.JobResult(
            job_id=req.job_id, status=job_pb2.JOB_STATUS_SUCCEEDED, result_ptr=pointer_for_key(key)
        )

    nc = await nats.connect(args.nats, name=f"{args.worker_id}-heartbeat")
    await publish_handshake(
        nc, args.worker_id, {"heartbeats": True}, ready_topics=[args.topic], private_key=private_key
    )
    beats = asyncio.create_task(
        heartbeat_loop(
            nc,
            lambda: heartbeat_payload(args.worker_id, args.topic, 0, 1, 0.0),
            interval=args.heartbeat_interval,
            private_key=private_key,
        )
    )
    serving = asyncio.create_task(
        run_worker(
            args.nats,
            args.topic,
            handle,
            public_keys=load_public_keys(args.trust),
            private_key=private_key,
            sender_id=args.worker_id,
        )
    )
    emit("ready", worker_id=args.worker_id, mode="lowlevel")
    try:
        await stop.wait()
    finally:
        for task in (serving, beats):
            task.cancel()
        await asyncio.gather(serving, beats, return_exceptions=True)
        await nc.drain()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["agent", "lowlevel"], default="agent")
    parser.add_argument("--nats", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--heartbeat-interval", type=float, default=1.0)
    parser.add_argument("--signing-key", help="PEM ECDSA P-256 private key to sign with")
    parser.add_argument("--trust", action="append", default=[], help="SENDER=PEM_PUBLIC_KEY_FILE, repeatable")
    args = parser.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = run_agent if args.mode == "agent" else run_lowlevel
    await runner(args, stop)
    emit("stopped", worker_id=args.worker_id)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
