import threading
import time

import pytest

from daskparse.decode_budget import DEFAULT_DECODE_BUDGET, DecodeBudget, PixelLimits


def _wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_reservation_waits_until_its_bytes_are_free():
    budget = DecodeBudget(100)
    granted, done = threading.Event(), threading.Event()

    def decode():
        with budget.reserve(40):
            granted.set()
            done.wait(10)

    with budget.reserve(70):
        waiter = threading.Thread(target=decode)
        waiter.start()
        time.sleep(0.2)
        assert not granted.is_set() and budget.in_use == 70  # 70 + 40 > 100: it waits
    assert granted.wait(10) and budget.in_use == 40
    done.set()
    waiter.join(10)
    assert budget.in_use == 0 and budget.peak == 70


def test_reservations_are_granted_in_the_order_asked():
    # A large request is not starved by small ones arriving after it, though they would fit sooner.
    budget = DecodeBudget(100)
    order = []

    def ask(name, nbytes):
        with budget.reserve(nbytes):
            order.append(name)

    held = budget.reserve(60)
    held.__enter__()
    large = threading.Thread(target=ask, args=("large", 80))
    large.start()
    _wait_until(lambda: budget.waiting == 1)
    small = threading.Thread(target=ask, args=("small", 10))
    small.start()
    _wait_until(lambda: budget.waiting == 2)
    time.sleep(0.1)
    assert order == []  # the small one fits (60 + 10) but waits behind the large one
    held.__exit__(None, None, None)
    large.join(10)
    small.join(10)
    assert order == ["large", "small"]
    assert budget.in_use == 0


def test_a_failure_inside_gives_the_bytes_back():
    budget = DecodeBudget(100)
    with pytest.raises(RuntimeError):
        with budget.reserve(90):
            raise RuntimeError("decoder failed")
    assert budget.in_use == 0
    with budget.reserve(100):
        assert budget.in_use == 100


def test_more_than_the_whole_budget_is_an_error_not_a_wait():
    with pytest.raises(ValueError):
        with DecodeBudget(100).reserve(101):
            pass
    with pytest.raises(ValueError):
        DecodeBudget(0)


def test_many_threads_never_hold_more_than_the_budget():
    budget = DecodeBudget(1000)
    held, most = [0], [0]
    lock = threading.Lock()

    def decode(nbytes):
        with budget.reserve(nbytes):
            with lock:
                held[0] += nbytes
                most[0] = max(most[0], held[0])
            time.sleep(0.01)
            with lock:
                held[0] -= nbytes

    threads = [threading.Thread(target=decode, args=(100 + 37 * i % 400,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 0 < most[0] <= 1000 and budget.peak <= 1000 and budget.in_use == 0


def test_limits_scale_with_the_output_and_the_default_budget_is_one_per_process():
    limits = PixelLimits.for_output(1200, 800)
    assert limits.still == 38_400_000 and limits.animation == 3_840_000
    assert PixelLimits.for_output(2400, 1600).still == 4 * limits.still
    assert DEFAULT_DECODE_BUDGET.total_bytes == 384 * 2**20
