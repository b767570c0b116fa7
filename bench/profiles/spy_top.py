"""One-off probe helper (issue 17): where py-spy's samples of a worker go (speedscope files from worker_spy.py).

    python bench/profiles/spy_top.py /tmp/scratch/prof17-spy/worker-*.speedscope.json [--top 10]

Each sample (one thread, one instant, not idle) is put in one category by its stack, first rule that matches;
then the top frames by inclusive and by self samples outside the optimizer. py-spy counts a thread that is
runnable but waiting for a core as active: on a loaded machine, samples are wall time of busy threads, not CPU.
"""

from __future__ import annotations

import argparse
import collections
import json
import re


def short(frame: dict) -> str:
    path = frame["file"]
    m = re.search(r"(?:site-packages|python3\.\d+|wt-prof17|main)/(.*)$", path)
    return f"{frame['name']} ({m.group(1) if m else path}:{frame['line']})"


# Leaves that are a blocked thread, not CPU: py-spy's idle detection misses some (threads it cannot map to an
# OS thread, and on a loaded machine), so they are counted apart and left out of the shares of busy samples.
WAITS = {"Condition.wait", "Event.wait", "SyncStream.read", "Connection._recv", "EpollSelector.select",
         "select", "sleep", "_wait_for_tstate_lock", "Thread.join", "socket.recv_into", "SSLSocket.recv_into",
         "SSLSocket.read", "SimpleQueue.get", "Queue.get", "wait"}


def waiting(stack: list[dict]) -> str | None:
    if not stack:
        return None
    leaf = stack[-1]
    if leaf["name"] in WAITS:
        return f"waiting: {leaf['name']}"
    if leaf["name"] == "WorkerResources.extractor" and leaf["line"] == 88:
        return "waiting: WorkerResources.extractor's lock (threads queue while the run's extractor is built)"
    return None


def category(stack: list[dict]) -> str:
    wait = waiting(stack)
    if wait:
        return wait
    files = [f["file"] for f in stack]
    names = [f["name"] for f in stack]
    joined = " ".join(files)
    if "daskparse/optimize.py" in joined:
        return "optimizer (optimize_image)"
    if "daskparse/fetch.py" in joined:
        return "fetch (read the file)"
    if any("generate_content" in n for n in names):
        leaf_libs = [f for f in reversed(files)]
        for f in leaf_libs:
            if "/pydantic" in f:
                return "gemini call: pydantic (validation/serialisation)"
            if "/httpx/" in f or "/httpcore/" in f or "/ssl.py" in f or "socket.py" in f or "/h11/" in f or "/anyio/" in f:
                return "gemini call: httpx/httpcore (HTTP)"
            if "/json/" in f:
                return "gemini call: json"
            if "google/genai" in f:
                return "gemini call: google-genai own code"
            if "daskparse/gate.py" in f or "daskparse/limiter.py" in f:
                return "gemini call: gate"
        return "gemini call: other"
    if "daskparse/gate.py" in joined or "daskparse/limiter.py" in joined:
        return "gate (outside the call)"
    if "daskparse/extract" in joined:
        return "extract: other (request/answer handling)"
    if "daskparse/" in joined:
        return "daskparse other (worker, cache, outcome)"
    if "distributed/" in joined or "tornado/" in joined or "asyncio/" in joined:
        leaf = next((f for f in reversed(files) if "distributed/" in f), "")
        mod = re.search(r"distributed/(.*)\.py", leaf)
        return f"dask: {mod.group(1) if mod else 'event loop'}"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--callers", action="append", default=[],
                        help="a function name: print the stacks (from google/genai or daskparse down) that reach it")
    args = parser.parse_args()
    cats: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    self_: collections.Counter = collections.Counter()
    total = 0
    threads: collections.Counter = collections.Counter()
    callers: dict[str, collections.Counter] = {name: collections.Counter() for name in args.callers}
    for path in args.files:
        data = json.load(open(path))
        frames = data["shared"]["frames"]
        for profile in data["profiles"]:
            thread = re.sub(r"\d+", "N", profile["name"])
            for sample, weight in zip(profile["samples"], profile["weights"]):
                stack = [frames[i] for i in sample]  # root first
                c = category(stack)
                cats[c] += weight
                total += weight
                threads[thread] += weight
                if c.startswith("optimizer") or c.startswith("waiting"):
                    continue
                for key in {short(f) for f in stack}:
                    inclusive[key] += weight
                if stack:
                    self_[short(stack[-1])] += weight
                for name in args.callers:
                    hit = [i for i, f in enumerate(stack) if f["name"] == name]
                    if hit:
                        top = max([i for i, f in enumerate(stack[: hit[0]]) if "daskparse/" in f["file"]] or [0])
                        callers[name][" > ".join(f["name"] for f in stack[top: hit[0] + 1])] += weight
    print(f"samples: {total}")
    busy = total - sum(n for c, n in cats.items() if c.startswith("waiting"))
    print(f"busy (not waiting) samples: {busy:.1f} (py-spy sample weights, seconds)")
    print("\nby category (share of busy samples; waits as share of all):")
    for c, n in cats.most_common():
        print(f"  {100 * n / (total if c.startswith('waiting') else busy):5.1f}%  {c}")
    print("\nby thread (share):")
    for t, n in threads.most_common(8):
        print(f"  {100 * n / total:5.1f}%  {t}")
    plumbing = ("threading.py", "asyncio/", "multiprocessing/", "threadpoolexecutor.py", "_concurrent_futures_thread",
                "distributed/utils.py", "distributed/worker.py:27", "distributed/worker.py:28", "dask/_task_spec.py",
                "tenacity/", "<string>", "distributed/process.py", "distributed/nanny.py", "compatibility.py")
    print(f"\ntop {args.top} frames outside the optimizer and waits, inclusive, thread/task plumbing left out "
          "(share of busy samples):")
    shown = [(k, n) for k, n in inclusive.most_common() if not any(p in k for p in plumbing)]
    for key, n in shown[: args.top]:
        print(f"  {100 * n / busy:5.1f}%  {key}")
    print(f"\ntop {args.top} frames outside the optimizer and waits, self (share of busy samples):")
    for key, n in self_.most_common(args.top):
        print(f"  {100 * n / busy:5.1f}%  {key}")
    _print_callers(callers, busy)


def _print_callers(callers: dict, busy: float) -> None:
    for name, paths in callers.items():
        print(f"\nstacks reaching {name} (share of busy samples):")
        for path, n in paths.most_common(4):
            print(f"  {100 * n / busy:5.1f}%  {path}")


if __name__ == "__main__":
    main()
