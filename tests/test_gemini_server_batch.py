"""The loopback Gemini server's Batch and Files APIs, driven by the real google-genai client (raw HTTP only to see
wire details the client hides). Job clocks are shrunk to tenths of a second; nothing is mocked."""

import datetime
import hashlib
import io
import json
import time

import httpx2
import pytest
import requests
from google import genai
from google.genai import errors, types

from conftest import jpeg_bytes, noise_jpeg
from daskparse.testing.gemini_batches import BatchClock, BatchItem, BatchJob, page
from daskparse.testing.gemini_server import GeminiServer

MODEL = "gemini-2.5-flash"
FAST = {"batch_pending_seconds": 0.05, "batch_running_seconds": 0.05}
SLOW = {"batch_pending_seconds": 0.05, "batch_running_seconds": 60.0}  # a job that stays RUNNING for the test
DONE = {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_FAILED, types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_EXPIRED}


def client_for(server, *, api_version="v1", key="test-key"):
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=server.base_url, api_version=api_version, timeout=30_000,
        retry_options=types.HttpRetryOptions(attempts=1)))  # one attempt: the server sees every call


def inline_request(image, key):
    return {"contents": [{"role": "user", "parts": [
                {"inline_data": {"data": image, "mime_type": "image/jpeg"}},
                {"text": "Extract every show on this flyer."}]}],
            "config": {"response_mime_type": "application/json", "temperature": 0.0},
            "metadata": {"key": key}}


def jsonl_line(image, key):
    import base64
    request = {"contents": [{"role": "user", "parts": [
        {"inlineData": {"data": base64.b64encode(image).decode(), "mimeType": "image/jpeg"}},
        {"text": "Extract every show on this flyer."}]}],
        "generationConfig": {"responseMimeType": "application/json"}}
    return json.dumps({"key": key, "request": request})


def wait_done(client, name, polls=500):
    """Poll the job until it ends (each poll 20 ms apart; a job that never ends fails the test)."""
    for _ in range(polls):
        job = client.batches.get(name=name)
        if job.state in DONE:
            return job
        time.sleep(0.02)
    pytest.fail(f"{name} still {job.state}")


def venue(image):
    return f"Venue {hashlib.sha256(image).hexdigest()[:8]}"


@pytest.mark.parametrize("api_version", ["v1", "v1beta", "v1alpha"])
def test_an_inline_job_goes_pending_running_succeeded_and_answers_each_request_by_key(api_version):
    images = [noise_jpeg(320, 240, seed=i) for i in range(3)]
    with GeminiServer(batch_pending_seconds=0.1, batch_running_seconds=0.1) as server:
        server.set_answer(images[1], {"is_flyer": True, "shows": [{"title": "Registered", "venue": "The Hall"}]})
        client = client_for(server, api_version=api_version)
        job = client.batches.create(model=MODEL, src=[inline_request(image, f"img-{i}") for i, image in
                                                      enumerate(images)], config={"display_name": "backlog"})
        assert job.name.startswith("batches/") and job.display_name == "backlog"
        assert job.state == types.JobState.JOB_STATE_PENDING and job.dest is None and job.end_time is None
        assert job.model == f"models/{MODEL}" and job.create_time is not None
        job = wait_done(client, job.name)  # RUNNING in between: test_job_states_follow_the_clock
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED
        assert job.end_time >= job.create_time
        by_key = {item.metadata["key"]: item for item in job.dest.inlined_responses}
        assert set(by_key) == {"img-0", "img-1", "img-2"}
        assert json.loads(by_key["img-1"].response.text)["shows"][0]["venue"] == "The Hall"
        for key in ("img-0", "img-2"):
            answer = json.loads(by_key[key].response.text)
            assert {show["venue"] for show in answer["shows"]} == {venue(images[int(key[-1])])}
        for item in job.dest.inlined_responses:
            usage = item.response.usage_metadata
            image_tokens = {d.modality.value: d.token_count for d in usage.prompt_tokens_details}["IMAGE"]
            assert image_tokens == 258 and usage.thoughts_token_count == 800  # as generateContent charges them
            assert item.response.candidates[0].finish_reason == types.FinishReason.STOP and item.error is None
        assert server.count(":batchGenerateContent") == 1 and server.count(":generateContent") == 0
        created = next(r for r in server.requests if r.path.endswith(":batchGenerateContent"))
        assert created.path.startswith(f"/{api_version}/") and created.model == MODEL
        assert created.image_sha256s == [hashlib.sha256(image).hexdigest() for image in images]
        assert "bytes sha256=" in json.dumps(created.body)  # the image data itself is not kept
        [info] = server.batch_jobs
        assert (info.name, info.state, info.request_count, info.display_name) == (
            job.name, "BATCH_STATE_SUCCEEDED", 3, "backlog")


def test_the_wire_shape_is_a_long_running_operation_with_int64_strings_and_no_done_while_running():
    with GeminiServer(batch_pending_seconds=60) as server:
        client = client_for(server)  # kept: a dropped genai.Client closes its connection pool
        job = client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        reply = requests.get(f"{server.base_url}/v1beta/{job.name}", headers={"x-goog-api-key": "test-key"},
                             timeout=10).json()
        metadata = reply["metadata"]
        assert reply["name"] == job.name and "done" not in reply and "output" not in metadata
        assert metadata["@type"].endswith("GenerateContentBatch") and metadata["state"] == "BATCH_STATE_PENDING"
        assert metadata["batchStats"] == {"requestCount": "1", "pendingRequestCount": "1"}
        assert metadata["createTime"].endswith("Z")


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_a_job_from_an_uploaded_jsonl_file_writes_its_results_to_a_downloadable_file(api_version):
    images = [noise_jpeg(200, 150, seed=10 + i) for i in range(2)]
    with GeminiServer(**FAST) as server:
        client = client_for(server, api_version=api_version)
        data = ("\n".join(jsonl_line(image, f"k{i}") for i, image in enumerate(images)) + "\n").encode()
        uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "jsonl", "display_name": "in"})
        assert uploaded.name.startswith("files/") and uploaded.size_bytes == len(data)
        assert uploaded.state == types.FileState.ACTIVE and uploaded.display_name == "in"
        assert client.files.get(name=uploaded.name).size_bytes == len(data)
        job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name).name)
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest.inlined_responses is None
        assert job.dest.file_name.startswith("files/batch-")
        lines = [json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()]
        assert [line["key"] for line in lines] == ["k0", "k1"]
        for line, image in zip(lines, images):
            text = line["response"]["candidates"][0]["content"]["parts"][0]["text"]
            assert {show["venue"] for show in json.loads(text)["shows"]} == {venue(image)}
        assert {f.name for f in server.files} == {uploaded.name, job.dest.file_name}
        assert [f.data for f in server.files if f.name == uploaded.name] == [data]
        chunk = next(r for r in server.requests if "upload_id=" in r.path)
        assert "x-goog-api-key" not in {name.lower() for name in chunk.headers}  # chunks go without the key
        with pytest.raises(errors.ClientError) as refused:  # an uploaded file cannot be downloaded back
            client.files.download(file=uploaded.name)
        assert refused.value.code == 400
        client.files.delete(name=uploaded.name)
        with pytest.raises(errors.ClientError):
            client.files.get(name=uploaded.name)


def test_the_download_path_with_the_download_prefix_serves_the_same_bytes():
    with GeminiServer(**FAST) as server:
        client = client_for(server)
        uploaded = client.files.upload(file=io.BytesIO((jsonl_line(jpeg_bytes(), "x") + "\n").encode()),
                                       config={"mime_type": "jsonl"})
        job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name).name)
        via_sdk = client.files.download(file=job.dest.file_name)
        raw = requests.get(f"{server.base_url}/download/v1beta/{job.dest.file_name}:download?alt=media",
                           headers={"x-goog-api-key": "test-key"}, timeout=10)
        assert raw.status_code == 200 and raw.content == via_sdk and json.loads(raw.content)["key"] == "x"


def test_list_pages_newest_first_and_deleted_jobs_are_gone():
    with GeminiServer(**SLOW) as server:
        client = client_for(server)
        names = [client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), str(i))]).name
                 for i in range(5)]
        pager = client.batches.list(config={"page_size": 2})
        assert [job.name for job in pager] == names[::-1]
        assert server.count("/batches") == 3  # pages of 2, 2 and 1
        client.batches.delete(name=names[0])
        requests.post(f"{server.base_url}/v1/{names[1]}:delete", headers={"x-goog-api-key": "test-key"}, timeout=10)
        assert [job.name for job in client.batches.list()] == names[:1:-1]
        with pytest.raises(errors.ClientError) as gone:
            client.batches.get(name=names[0])
        assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"
        assert [info.deleted for info in server.batch_jobs] == [True, True, False, False, False]


def test_cancel_ends_a_running_job_and_a_finished_one_cannot_be_cancelled():
    with GeminiServer(**SLOW) as server:
        client = client_for(server)
        job = client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        client.batches.cancel(name=job.name)
        job = client.batches.get(name=job.name)
        assert job.state == types.JobState.JOB_STATE_CANCELLED and job.end_time is not None and job.dest is None
        with pytest.raises(errors.ClientError) as refused:
            client.batches.cancel(name=job.name)
        assert refused.value.code == 400


def test_a_job_unfinished_past_the_expiry_window_expires_without_results():
    with GeminiServer(batch_pending_seconds=0.05, batch_running_seconds=60, batch_expire_seconds=0.2) as server:
        client = client_for(server)
        job = wait_done(client, client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")]).name)
        assert job.state == types.JobState.JOB_STATE_EXPIRED and job.dest is None


@pytest.mark.parametrize("kind, state", [("failed", types.JobState.JOB_STATE_FAILED),
                                         ("expired", types.JobState.JOB_STATE_EXPIRED)])
def test_a_scripted_outcome_ends_the_next_job_only(kind, state):
    with GeminiServer(**FAST) as server:
        client = client_for(server)
        server.add_batch_fault(kind)
        first = client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        second = client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        first, second = wait_done(client, first.name), wait_done(client, second.name)
        assert first.state == state and first.dest is None
        assert second.state == types.JobState.JOB_STATE_SUCCEEDED and second.dest.inlined_responses


def test_a_stuck_job_expires_after_the_window():
    with GeminiServer(**FAST, batch_expire_seconds=1.0) as server:
        client = client_for(server)
        server.add_batch_fault("stuck")
        job = client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        time.sleep(0.15)  # past when an unscripted job would have succeeded
        assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
        assert wait_done(client, job.name).state == types.JobState.JOB_STATE_EXPIRED


def test_a_per_request_error_replaces_that_response_and_the_sdk_parses_it():
    good, bad = noise_jpeg(seed=1), noise_jpeg(seed=2)
    with GeminiServer(**FAST) as server:
        client = client_for(server)
        server.add_batch_error(bad, code=13, message="Internal error encountered.")
        unsupported = {"contents": [{"role": "user", "parts": [
            {"inline_data": {"data": good, "mime_type": "image/gif"}}, {"text": "x"}]}], "metadata": {"key": "gif"}}
        src = [inline_request(good, "good"), inline_request(bad, "bad"), unsupported]
        job = wait_done(client, client.batches.create(model=MODEL, src=src).name)
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED
        by_key = {item.metadata["key"]: item for item in job.dest.inlined_responses}
        assert by_key["good"].error is None and json.loads(by_key["good"].response.text)["shows"]
        assert by_key["bad"].response is None
        assert (by_key["bad"].error.code, by_key["bad"].error.message) == (13, "Internal error encountered.")
        assert by_key["gif"].error.code == 3 and "Unsupported MIME type" in by_key["gif"].error.message
        # the scripted error was spent: the same image in a later job is answered
        again = wait_done(client, client.batches.create(model=MODEL, src=[inline_request(bad, "bad")]).name)
        assert again.dest.inlined_responses[0].error is None
        stats = requests.get(f"{server.base_url}/v1/{job.name}", headers={"x-goog-api-key": "test-key"},
                             timeout=10).json()["metadata"]["batchStats"]
        assert stats == {"requestCount": "3", "successfulRequestCount": "1", "failedRequestCount": "2"}


def test_creating_past_the_concurrent_cap_is_429_without_retry_after_until_a_job_ends():
    with GeminiServer(**SLOW, max_concurrent_batches=2) as server:
        client = client_for(server)
        jobs = [client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")]) for _ in range(2)]
        with pytest.raises(errors.ClientError) as refused:
            client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        assert refused.value.code == 429 and refused.value.status == "RESOURCE_EXHAUSTED"
        assert "retry-after" not in {name.lower() for name in refused.value.response.headers}
        assert len(server.batch_jobs) == 2
        client.batches.cancel(name=jobs[0].name)
        client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        assert len(server.batch_jobs) == 3


def test_without_the_metadata_echo_results_still_come_in_input_order():
    images = [noise_jpeg(seed=20 + i) for i in range(4)]
    with GeminiServer(**FAST, batch_echo_metadata=False) as server:
        client = client_for(server)
        job = wait_done(client, client.batches.create(
            model=MODEL, src=[inline_request(image, str(i)) for i, image in enumerate(images)]).name)
        items = job.dest.inlined_responses
        assert [item.metadata for item in items] == [None] * 4
        assert [json.loads(item.response.text)["shows"][0]["venue"] for item in items] == [venue(i) for i in images]


def test_the_same_body_twice_makes_two_jobs():
    with GeminiServer(**SLOW) as server:
        client = client_for(server)
        src = [inline_request(jpeg_bytes(), "same")]
        first = client.batches.create(model=MODEL, src=src, config={"display_name": "run"})
        second = client.batches.create(model=MODEL, src=src, config={"display_name": "run"})
        assert first.name != second.name
        assert [info.display_name for info in server.batch_jobs] == ["run", "run"]


def test_scripted_create_faults_fail_the_call_or_lose_the_reply_of_a_job_that_exists():
    with GeminiServer(**SLOW) as server:
        client = client_for(server)
        server.add_batch_fault("unavailable")
        with pytest.raises(errors.ServerError) as unavailable:
            client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        assert unavailable.value.code == 503 and server.batch_jobs == []
        server.add_batch_fault("lost_reply")
        with pytest.raises(httpx2.TransportError):
            client.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        [info] = server.batch_jobs  # made and billable, though the client never heard of it
        assert info.state in {"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"}
        assert [job.name for job in client.batches.list()] == [info.name]


def test_create_checks_the_key_and_the_model_like_generate_content():
    with GeminiServer(**FAST) as server:
        wrong, client = client_for(server, key="wrong"), client_for(server)
        with pytest.raises(errors.ClientError) as bad_key:
            wrong.batches.create(model=MODEL, src=[inline_request(jpeg_bytes(), "a")])
        assert bad_key.value.code == 400 and "API key not valid" in bad_key.value.message
        with pytest.raises(errors.ClientError) as unknown:
            client.batches.create(model="gemini-9", src=[inline_request(jpeg_bytes(), "a")])
        assert unknown.value.code == 404 and "batchGenerateContent" in unknown.value.message
        no_key = requests.get(f"{server.base_url}/v1/batches", timeout=10)
        assert no_key.status_code == 403
        assert server.batch_jobs == []


def job_at(outcome=None, expire=100.0):
    return BatchJob(id="j", model=MODEL, items=[BatchItem(request={})], clock=BatchClock(1.0, 2.0, expire),
                    created=10.0, created_wall=datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc),
                    outcome=outcome)


def test_job_states_follow_the_clock():
    job = job_at()
    assert [job.state(t) for t in (10.0, 10.9, 11.0, 12.9, 13.0, 99.0)] == [
        "BATCH_STATE_PENDING", "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_RUNNING",
        "BATCH_STATE_SUCCEEDED", "BATCH_STATE_SUCCEEDED"]
    assert job.updated(12.0) == 11.0 and job.ends(12.0) is None and job.ends(20.0) == ("BATCH_STATE_SUCCEEDED", 13.0)
    assert job_at("failed").state(13.0) == "BATCH_STATE_FAILED"
    stuck = job_at("stuck", expire=50.0)
    assert stuck.state(59.9) == "BATCH_STATE_RUNNING" and stuck.ends(60.0) == ("BATCH_STATE_EXPIRED", 60.0)
    assert job_at(expire=2.5).state(12.5) == "BATCH_STATE_EXPIRED"  # the window closes before it finishes
    cancelled = job_at()
    cancelled.cancelled_at = 11.5
    assert cancelled.state(11.4) == "BATCH_STATE_RUNNING" and cancelled.ends(30.0) == ("BATCH_STATE_CANCELLED", 11.5)


def test_pages_cover_every_name_once():
    names = [str(i) for i in range(7)]
    seen, token = [], None
    while True:
        chunk, token = page(names, 3, token)
        seen += chunk
        if token is None:
            break
    assert seen == names
    assert isinstance(page(names, 3, "!!not-a-token"), str)


def test_a_resumable_upload_in_several_chunks_keeps_every_byte_and_refuses_a_wrong_offset():
    """Raw HTTP: the SDK only splits files over 8 MiB into chunks, too big for a fast test."""
    with GeminiServer() as server:
        start = requests.post(f"{server.base_url}/upload/v1beta/files", timeout=10,
                              json={"file": {"mime_type": "jsonl"}},
                              headers={"x-goog-api-key": "test-key", "X-Goog-Upload-Protocol": "resumable",
                                       "X-Goog-Upload-Command": "start", "X-Goog-Upload-Header-Content-Length": "6",
                                       "X-Goog-Upload-Header-Content-Type": "application/jsonl"})
        url = start.headers["x-goog-upload-url"]
        assert start.status_code == 200 and url.startswith(server.base_url + "/upload/v1beta/files?upload_id=")

        def chunk(data, offset, command="upload"):
            return requests.post(url, data=data, timeout=10,
                                 headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)})

        first = chunk(b"abc", 0)
        assert first.headers["x-goog-upload-status"] == "active"
        wrong = chunk(b"zzz", 1)
        assert wrong.status_code == 400 and wrong.headers["x-goog-upload-status"] == "final"
        final = chunk(b"def", 3, "upload, finalize")
        assert final.headers["x-goog-upload-status"] == "final"
        resource = final.json()["file"]
        assert resource["sizeBytes"] == "6" and resource["mimeType"] == "application/jsonl"
        assert [f.data for f in server.files] == [b"abcdef"]
