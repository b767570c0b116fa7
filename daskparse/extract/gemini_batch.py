"""Gemini's Batch API through google-genai: the online requests, answered within 24 hours at half the price.

    api = BatchApi(options)
    job = api.create("daskparse-1f3c", [BatchRequest(key, jpeg), ...])  # inline, or a JSONL file above inline_bytes
    api.find("daskparse-1f3c")            # the job a run killed mid-create made, or None
    api.state(job)                        # "pending" | "running" | "succeeded" | "failed" | "cancelled" | "expired"
    for answer in api.answers(job, keys): # one BatchAnswer per request, mapped back by its key
        ...

Each request is the one ``GeminiExtractor`` sends online (``generate_config``, the same prompt and image part) and
carries its key (the image's SHA-256) in its metadata, or in its JSONL line: results map back by key, and by
position when an inline job's echo of the metadata is missing (results come in input order). Creating a job is not
idempotent, so nothing here retries a create: a create that failed half-way is found again by its display name
(``find``). Wire facts: ../shared/gemini-batch.md.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

from daskparse.errors import SourceError
from daskparse.extract.gemini import (
    USER_PROMPT, _shared_client, block_reason, count_response, generate_config, read_answer,
)
from daskparse.options import GeminiOptions
from daskparse.shows import ShowFields
from daskparse.usage import Usage

logger = logging.getLogger("daskparse")

INLINE_BYTES = 20_000_000  # a job's inline requests stay under the API's 20 MB; above, a JSONL file is uploaded
REQUEST_OVERHEAD = 4_096  # bytes of a request besides its image's base64: prompt, schema, config, key
# the SDK's JobState names (it maps the wire's BATCH_STATE_*) in our words
STATES = {"JOB_STATE_PENDING": "pending", "JOB_STATE_QUEUED": "pending", "JOB_STATE_RUNNING": "running",
          "JOB_STATE_SUCCEEDED": "succeeded", "JOB_STATE_FAILED": "failed", "JOB_STATE_CANCELLED": "cancelled",
          "JOB_STATE_CANCELLING": "running", "JOB_STATE_EXPIRED": "expired", "JOB_STATE_PAUSED": "pending",
          "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded"}
FINISHED = frozenset({"succeeded", "failed", "cancelled", "expired"})
ANSWERED = "succeeded"  # the one finished state with answers to read; the others send their images back


@dataclass(frozen=True)
class BatchRequest:
    key: str  # the image's SHA-256: what its answer is found by
    jpeg: bytes

    @property
    def size(self) -> int:
        """Bytes it adds to a job's body (base64 grows by a third)."""
        return (len(self.jpeg) + 2) // 3 * 4 + REQUEST_OVERHEAD


@dataclass
class BatchAnswer:
    """One request's result: its shows (an empty list: no flyer) or the error that is the image's row."""

    key: str
    shows: Optional[list[ShowFields]] = None
    error: Optional[SourceError] = None
    usage: Usage = field(default_factory=Usage)


class BatchApi:
    """The Batch and Files calls of one model and key (the process's shared google-genai client)."""

    def __init__(self, options: GeminiOptions, inline_bytes: int = INLINE_BYTES):
        from google.genai import types

        self.options, self.inline_bytes, self._types = options, inline_bytes, types
        self._client, _ = _shared_client(options)
        self._config = generate_config(options)  # response_schema=GeminiShows: no HTTP options in a job's request

    # -- creating ------------------------------------------------------------------------------------------
    def create(self, display_name: str, requests: list[BatchRequest]) -> str:
        """A new job for ``requests``; its name ("batches/ID"). Inline while the body stays under
        ``inline_bytes``, else through an uploaded JSONL file. Raises the SDK's error as it is: never retried."""
        config = self._types.CreateBatchJobConfig(display_name=display_name)
        if sum(request.size for request in requests) < self.inline_bytes:
            src: Any = [self._inlined(request) for request in requests]
        else:
            src = self._upload(display_name, requests)
        job = self._client.batches.create(model=self.options.model, src=src, config=config)
        logger.info("Gemini batch job %s created for %d images (%s)", job.name, len(requests),
                    "inline" if isinstance(src, list) else src)
        return str(job.name)

    def _inlined(self, request: BatchRequest) -> Any:
        contents: list[Any] = [self._types.Part.from_bytes(data=request.jpeg, mime_type="image/jpeg"), USER_PROMPT]
        return self._types.InlinedRequest(contents=contents, config=self._config,
                                          metadata={"key": request.key})

    def _upload(self, display_name: str, requests: list[BatchRequest]) -> str:
        """The requests as a JSONL file on the Files API ("files/ID"): each line the REST request the SDK itself
        would send inline (its own converter), with the key beside it."""
        from google.genai import _common, batches

        api_client = self._client._api_client  # the SDK's converter needs its client: private, pinned by a test
        lines = io.BytesIO()
        for request in requests:
            # what batches.create does to an inline request's body: converted, then bytes to base64
            wire = _common.encode_unserializable_types(_common.convert_to_dict(
                batches._InlinedRequest_to_mldev(api_client, self._inlined(request))))
            lines.write(json.dumps({"key": request.key, "request": wire["request"]},
                                   separators=(",", ":")).encode() + b"\n")
        lines.seek(0)
        uploaded = self._client.files.upload(file=lines, config=self._types.UploadFileConfig(
            display_name=display_name, mime_type="jsonl"))
        return str(uploaded.name)

    # -- following -----------------------------------------------------------------------------------------
    def find(self, display_name: str) -> Optional[str]:
        """The job named ``display_name`` (the newest, should there be two), or None."""
        for job in self._client.batches.list(config=self._types.ListBatchJobsConfig(page_size=100)):
            if job.display_name == display_name:
                return str(job.name)
        return None

    def get(self, name: str) -> Any:
        return self._client.batches.get(name=name)

    def state(self, job: Any) -> str:
        """Our word for a job's state (``STATES``); an unknown state counts as still pending."""
        state = getattr(job.state, "value", job.state)
        return STATES.get(str(state), "pending")

    # -- reading -------------------------------------------------------------------------------------------
    def answers(self, job: Any, keys: list[str]) -> Iterator[BatchAnswer]:
        """Every answer of a succeeded job, by key; ``keys``: the job's keys in the order sent, for results
        whose echo of the key is missing. Keys with no result at all get an error answer."""
        seen: set[str] = set()
        destination = job.dest
        if destination is not None and destination.inlined_responses is not None:
            for position, item in enumerate(destination.inlined_responses):
                key = (item.metadata or {}).get("key") or (keys[position] if position < len(keys) else None)
                if key is None or key in seen:
                    continue
                seen.add(key)
                yield _answer(key, item.response, item.error)
        elif destination is not None and destination.file_name:
            for line in self._client.files.download(file=destination.file_name).splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                key = entry.get("key")
                if key is None or key in seen:
                    continue
                seen.add(key)
                response = entry.get("response")
                yield _answer(key, None if response is None else self._types.GenerateContentResponse.model_validate(
                    response), _JobError.of(entry.get("error")))
        for key in keys:
            if key not in seen:
                yield BatchAnswer(key, error=SourceError("gemini.batch_missing",
                                                         "the batch job gave no result for this image", transient=True))


@dataclass
class _JobError:
    code: Optional[int]
    message: Optional[str]

    @classmethod
    def of(cls, error: Any) -> Optional["_JobError"]:
        return None if not error else cls(error.get("code"), error.get("message"))


def _answer(key: str, response: Any, error: Any) -> BatchAnswer:
    """One result as the image's answer: what ``GeminiExtractor`` makes of the same response online, except that a
    cut or unreadable answer is not asked again here (a transient error: the next run asks again)."""
    usage = Usage()
    if error is not None or response is None:
        code = getattr(error, "code", None)
        message = getattr(error, "message", None) or "no response"
        return BatchAnswer(key, error=SourceError("gemini.batch_request_failed",
                                                  f"the batch job's answer for this image: {code or ''} {message}"
                                                  .replace("  ", " ")[:500], transient=True), usage=usage)
    usage.requests = usage.batch_requests = 1
    count_response(usage, response)
    verdict = read_answer(response)
    if isinstance(verdict, list):
        return BatchAnswer(key, shows=verdict, usage=usage)
    if verdict == "blocked":
        return BatchAnswer(key, error=SourceError("gemini.blocked", block_reason(response)), usage=usage)
    return BatchAnswer(key, error=SourceError("gemini.bad_output", "the batch answer was cut short or not the "
                                              "schema; the next run asks again", transient=True), usage=usage)


def jobs(requests: Iterable[BatchRequest], max_bytes: int) -> Iterator[list[BatchRequest]]:
    """``requests`` cut into jobs of at most ``max_bytes`` each (one request alone may pass it)."""
    job: list[BatchRequest] = []
    size = 0
    for request in requests:
        if job and size + request.size > max_bytes:
            yield job
            job, size = [], 0
        job.append(request)
        size += request.size
    if job:
        yield job


__all__ = ["BatchApi", "BatchAnswer", "BatchRequest", "FINISHED", "ANSWERED", "jobs"]
