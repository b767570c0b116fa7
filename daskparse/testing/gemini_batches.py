"""The loopback Gemini server's Batch and Files state: jobs on a clock, stored files, resumable uploads.

Plain data and the wire shapes google-genai 3.6.1 reads; ``GeminiServer`` (gemini_server.py) routes HTTP here
and answers each request of a job with its own generateContent path:

    job = BatchJob.new("a1b2...", "gemini-2.5-flash", items, clock=BatchClock(0.2, 0.3), now=time.monotonic())
    job.state(time.monotonic())            # "BATCH_STATE_PENDING", later RUNNING, then SUCCEEDED
    operation(job, now, echo_metadata=True)  # the long-running-operation wrapper batches.get parses
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

PENDING, RUNNING, SUCCEEDED = "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"
FAILED, CANCELLED, EXPIRED = "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"
ACTIVE_STATES = {PENDING, RUNNING}
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
FILE_LIFETIME = dt.timedelta(hours=48)  # files and batch results are kept 48 h (docs)

# Scripted job-level outcomes (GeminiServer.add_batch_fault), consumed by the next created job.
BATCH_FAULT_KINDS = {
    "failed": "the job ends BATCH_STATE_FAILED when it would have succeeded (an error on the operation, no output)",
    "expired": "the job ends BATCH_STATE_EXPIRED when it would have succeeded (no output)",
    "stuck": "the job never leaves RUNNING, so it expires after batch_expire_seconds",
    "unavailable": "the create call gets 503 UNAVAILABLE and no job is made",
    "exhausted": "the create call gets 429 RESOURCE_EXHAUSTED and no job is made",
    "lost_reply": "the job is made, then the connection drops before the reply (the client sees a transport error)",
}
JOB_OUTCOME_FAULTS = {"failed", "expired", "stuck"}


@dataclass(frozen=True)
class BatchClock:
    """Seconds a job spends PENDING, then RUNNING, before it ends; unfinished past ``expire_seconds`` it EXPIRES."""

    pending_seconds: float = 0.2
    running_seconds: float = 0.3
    expire_seconds: float = 48 * 3600.0


@dataclass(frozen=True)
class BatchItem:
    """One request of a job: inline ones carry ``metadata`` (echoed back), file lines a ``key``."""

    request: dict  # the GenerateContentRequest as sent (images included)
    metadata: dict | None = None
    key: str | None = None


@dataclass(frozen=True)
class BatchRequestError:
    """A scripted per-request error: the next batch request carrying the image gets ``{"error": {code, message}}``
    (a google.rpc.Code and its message, no ``details``: google-genai 3.6.1 cannot parse rpc Status details)."""

    image_sha256: str
    code: int = 13
    message: str = "Internal error encountered."


@dataclass
class BatchJob:
    """A created job. Its state is a function of the clock (``state(now)``), of a cancel and of a scripted outcome."""

    id: str
    model: str
    items: list[BatchItem]
    clock: BatchClock
    created: float  # time.monotonic() at creation
    created_wall: dt.datetime
    display_name: str | None = None
    input_file: str | None = None  # "files/ID" for a job made from an uploaded JSONL file
    outcome: str | None = None  # a JOB_OUTCOME_FAULTS kind, scripted
    cancelled_at: float | None = None
    deleted: bool = False  # gone from get and list; a delete does not stop the job (it still counts for the cap)
    results: list[dict] | None = None  # per item {"response": ...} or {"error": ...}, once the job succeeded
    output_file: str | None = None  # "files/batch-ID" for a file job, once it succeeded
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    def _finishes_at(self) -> float | None:
        """When the job would succeed on its own, or None when it never does (it then only expires)."""
        if self.outcome == "stuck":
            return None
        return self.created + self.clock.pending_seconds + self.clock.running_seconds

    def ends(self, now: float) -> tuple[str, float] | None:
        """The terminal state and when it was reached, or None while the job is PENDING or RUNNING."""
        expires = self.created + self.clock.expire_seconds
        finish = self._finishes_at()
        candidates = [(expires, EXPIRED)]
        if finish is not None and finish < expires:
            finish_state = {"failed": FAILED, "expired": EXPIRED}.get(self.outcome or "", SUCCEEDED)
            candidates.append((finish, finish_state))
        if self.cancelled_at is not None:
            candidates.append((self.cancelled_at, CANCELLED))
        at, state = min(candidates)
        return (state, at) if at <= now else None

    def state(self, now: float) -> str:
        end = self.ends(now)
        if end is not None:
            return end[0]
        return PENDING if now < self.created + self.clock.pending_seconds else RUNNING

    def updated(self, now: float) -> float:
        """When the state last changed."""
        end = self.ends(now)
        if end is not None:
            return end[1]
        started = self.created + self.clock.pending_seconds
        return started if now >= started else self.created

    def wall(self, at: float) -> dt.datetime:
        return self.created_wall + dt.timedelta(seconds=at - self.created)


@dataclass(frozen=True)
class BatchJobInfo:
    """What a test sees of a job (``GeminiServer.batch_jobs``)."""

    name: str
    model: str
    state: str
    request_count: int
    display_name: str | None
    input_file: str | None
    output_file: str | None
    deleted: bool


@dataclass(frozen=True)
class StoredFile:
    """A file of the Files API: uploaded (a JSONL of batch requests) or generated (a batch job's results)."""

    id: str
    mime_type: str
    data: bytes
    created_wall: dt.datetime
    display_name: str | None = None
    source: str = "UPLOADED"  # or "GENERATED"

    @property
    def name(self) -> str:
        return f"files/{self.id}"


@dataclass
class UploadSession:
    """A resumable upload between its start and its finalize."""

    id: str
    version: str
    mime_type: str
    size: int | None  # X-Goog-Upload-Header-Content-Length, when sent
    display_name: str | None
    received: bytearray = field(default_factory=bytearray)


# ---------------------------------------------------------------- wire shapes

def timestamp(moment: dt.datetime) -> str:
    """A protobuf JSON Timestamp, microseconds and "Z" as Google writes them."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def batch_stats(job: BatchJob, state: str) -> dict:
    """int64 counts as strings, zeros omitted (proto3 JSON)."""
    total = len(job.items)
    failed = sum(1 for result in job.results or [] if "error" in result)
    counts = {"requestCount": total}
    if state in ACTIVE_STATES:
        counts["pendingRequestCount"] = total
    elif state == SUCCEEDED:
        counts.update(successfulRequestCount=total - failed, failedRequestCount=failed)
    return {name: str(count) for name, count in counts.items() if count}


def job_output(job: BatchJob, echo_metadata: bool) -> dict:
    """metadata.output of a succeeded job: the inlined responses in input order, or the results file."""
    if job.output_file is not None:
        return {"responsesFile": job.output_file}
    inlined = []
    for item, result in zip(job.items, job.results or []):
        entry = dict(result)
        if echo_metadata and item.metadata is not None:
            entry["metadata"] = item.metadata
        inlined.append(entry)
    return {"inlinedResponses": {"inlinedResponses": inlined}}


def operation(job: BatchJob, now: float, echo_metadata: bool = True) -> dict:
    """The long-running operation google-genai reads: name and metadata (state, times, output); results of a
    succeeded job must already be in ``job.results``."""
    state = job.state(now)
    metadata: dict[str, Any] = {"@type": BATCH_TYPE, "model": f"models/{job.model}"}
    if job.display_name is not None:
        metadata["displayName"] = job.display_name
    if job.input_file is not None:
        metadata["inputConfig"] = {"fileName": job.input_file}
    metadata["createTime"] = timestamp(job.created_wall)
    metadata["updateTime"] = timestamp(job.wall(job.updated(now)))
    end = job.ends(now)
    if end is not None:
        metadata["endTime"] = timestamp(job.wall(end[1]))
    metadata["batchStats"] = batch_stats(job, state)
    metadata["state"] = state
    reply: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if state == SUCCEEDED:
        output = job_output(job, echo_metadata)
        metadata["output"] = output
        reply.update(done=True, response={"@type": OUTPUT_TYPE, **output})
    elif end is not None:
        reply["done"] = True
        if state == FAILED:  # google.rpc.Status on the operation; the SDK does not read it
            reply["error"] = {"code": 13, "message": "Batch job failed: an internal error has occurred."}
    return reply


def job_info(job: BatchJob, now: float) -> BatchJobInfo:
    return BatchJobInfo(name=job.name, model=job.model, state=job.state(now), request_count=len(job.items),
                        display_name=job.display_name, input_file=job.input_file, output_file=job.output_file,
                        deleted=job.deleted)


def file_resource(stored: StoredFile, base_url: str, version: str) -> dict:
    """The File resource as the Files API answers it (sizeBytes an int64 string)."""
    digest = hashlib.sha256(stored.data).hexdigest()
    resource = {
        "name": stored.name,
        "mimeType": stored.mime_type,
        "sizeBytes": str(len(stored.data)),
        "createTime": timestamp(stored.created_wall),
        "updateTime": timestamp(stored.created_wall),
        "expirationTime": timestamp(stored.created_wall + FILE_LIFETIME),
        "sha256Hash": base64.b64encode(digest.encode()).decode(),
        "uri": f"{base_url}/{version}/{stored.name}",
        "state": "ACTIVE",
        "source": stored.source,
    }
    if stored.display_name:
        resource["displayName"] = stored.display_name
    if stored.source == "GENERATED":
        resource["downloadUri"] = f"{base_url}/download/{version}/{stored.name}:download?alt=media"
    return resource


def results_jsonl(job: BatchJob) -> bytes:
    """A file job's results: one ``{"key": .., "response": ..}`` or ``{"key": .., "error": ..}`` line a request."""
    lines = [json.dumps({"key": item.key, **result}, ensure_ascii=False)
             for item, result in zip(job.items, job.results or [])]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_jsonl_requests(data: bytes) -> list[BatchItem] | str:
    """The requests of an uploaded JSONL file (``{"key": .., "request": {..}}`` a line), or why it is invalid."""
    items = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            return f"Invalid JSON in the input file at line {number}."
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            return f"Line {number} of the input file has no request."
        key = entry.get("key")
        items.append(BatchItem(request=request, key=None if key is None else str(key)))
    return items or "The input file has no requests."


def page(names: list[str], page_size: Any, page_token: str | None, default_size: int = 50,
         max_size: int = 1000) -> tuple[list[str], str | None] | str:
    """One page of ``names`` and the token of the next (None on the last), or why the token or size is invalid."""
    try:
        size = int(page_size) if page_size not in (None, "") else default_size
    except ValueError:
        return f"Invalid value for pageSize: {page_size!r}."
    size = min(max_size, size if size > 0 else default_size)
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode() + b"==").decode())
        except ValueError:
            return "Invalid page token."
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=") if end < len(names) else None
    return names[start:end], token
