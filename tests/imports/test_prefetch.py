"""The validation thread's GIL switch interval is the whole process's: overlapping imports in
one process (a threaded web server) share one change and leave the interval as they found it."""

import sys
import threading

import pytest

from imports.pipeline.prefetch import SWITCH_INTERVAL, THREAD_SWITCH_INTERVAL, ThreadPrefetch


def test_overlapping_validation_threads_restore_the_interval_in_any_order():
    before = sys.getswitchinterval()
    first = ThreadPrefetch(lambda: iter([1, 2]))
    second = ThreadPrefetch(lambda: iter([3]))
    assert sys.getswitchinterval() == pytest.approx(THREAD_SWITCH_INTERVAL)
    assert list(second) == [3]
    # The first to start ends first: the second still runs with the short interval.
    first.close()
    assert sys.getswitchinterval() == pytest.approx(THREAD_SWITCH_INTERVAL)
    second.close()
    assert sys.getswitchinterval() == pytest.approx(before)
    assert SWITCH_INTERVAL.users == 0


def test_imports_starting_and_ending_in_many_threads_leave_the_interval_as_it_was():
    before = sys.getswitchinterval()
    start = threading.Barrier(8)

    def one_import():
        start.wait(10)
        prefetch = ThreadPrefetch(lambda: iter(range(50)))
        try:
            assert list(prefetch) == list(range(50))
        finally:
            prefetch.close()

    threads = [threading.Thread(target=one_import) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sys.getswitchinterval() == pytest.approx(before)
    assert SWITCH_INTERVAL.users == 0
