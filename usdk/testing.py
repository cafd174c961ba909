"""Testing helpers for applications instrumented with usdk.

:func:`capture_events` records, in memory, every event the application would emit,
whether or not an LTTng session is running: the values are the ones LTTng would record
(after coercion), so tests can assert on instrumentation without a tracer::

    from usdk.testing import capture_events

    def test_checkout_is_traced():
        with capture_events() as events:
            checkout(cart_id=7, total=9.5)
        assert [e.name for e in events] == ["shop:checkout_entry", "shop:checkout_exit"]
        assert events[0].fields["cart_id"] == 7

While a capture is active every gate takes its tracing path, so it costs like tracing.
Events are also sent to LTTng as usual when a session enabled them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from usdk.slots import Capture, pop_capture, push_capture


@dataclass(frozen=True)
class CapturedEvent:
    """One event as LTTng would record it: ``provider:event`` name and field values."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]


@contextmanager
def capture_events() -> Iterator[list[CapturedEvent]]:
    """Collect every event emitted inside the block (all threads) into a list."""
    capture = Capture()
    push_capture(capture)
    try:
        yield capture.events
    finally:
        pop_capture(capture)
