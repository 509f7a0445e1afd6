"""`ccc compile` is one command and then an exit: its build is neither rescanned while it runs
nor after (util.paused_gc_for_good), and the collector's state is given back."""

from __future__ import annotations

import gc

from ccc_dsl.util import paused_gc_for_good


def test_the_collector_is_paused_inside_and_the_build_frozen_after() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with paused_gc_for_good():
            assert not gc.isenabled()
            made = [[i] for i in range(1000)]  # objects the collector tracks
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(made)
        assert not any(gc.is_tracked(m) and m in gc.get_objects(0) for m in made[:3])
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


def test_a_failing_build_still_gives_the_collector_back() -> None:
    try:
        try:
            with paused_gc_for_good():
                raise ValueError("a build that fails")
        except ValueError:
            pass
        assert gc.isenabled()
    finally:
        gc.unfreeze()
