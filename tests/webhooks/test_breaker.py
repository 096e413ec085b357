"""The per-subscription circuit breaker: open after failures in a row, one trial, doubling."""

from __future__ import annotations

from gateway.webhooks.breaker import SubscriptionBreakers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_and_lets_one_trial_through() -> None:
    clock = Clock()
    breakers = SubscriptionBreakers(threshold=3, reset_seconds=60, clock=clock)
    for _ in range(2):
        assert breakers.begin("whs_a") is False
        breakers.record("whs_a", trial=False, success=False)
    assert breakers.blocked() == set()
    breakers.record("whs_a", trial=False, success=False)
    assert breakers.blocked() == {"whs_a"}
    assert breakers.state("whs_b") == "closed"

    clock.now += 60
    assert breakers.state("whs_a") == "half_open"
    assert breakers.begin("whs_a") is True
    assert breakers.blocked() == {"whs_a"}  # no second delivery while the trial runs
    breakers.record("whs_a", trial=True, success=False)
    clock.now += 60
    assert breakers.state("whs_a") == "open"  # a failed trial opens it twice as long
    clock.now += 60
    assert breakers.begin("whs_a") is True
    breakers.record("whs_a", trial=True, success=True)
    assert breakers.state("whs_a") == "closed"
    assert breakers.blocked() == set()


def test_a_success_resets_the_count_and_a_refusal_counts_for_nothing() -> None:
    breakers = SubscriptionBreakers(threshold=2, reset_seconds=60, clock=Clock())
    breakers.record("whs_a", trial=False, success=False)
    breakers.record("whs_a", trial=False, success=True)
    breakers.record("whs_a", trial=False, success=False)
    breakers.record("whs_a", trial=False, success=None)
    assert breakers.state("whs_a") == "closed"
    breakers.record("whs_a", trial=False, success=False)
    assert breakers.state("whs_a") == "open"


def test_the_open_time_is_capped() -> None:
    clock = Clock()
    breakers = SubscriptionBreakers(
        threshold=1, reset_seconds=60, max_open_seconds=100, clock=clock
    )
    breakers.record("whs_a", trial=False, success=False)
    for _ in range(5):
        clock.now += 100
        assert breakers.begin("whs_a") is True
        breakers.record("whs_a", trial=True, success=False)
    clock.now += 100
    assert breakers.state("whs_a") == "half_open"
