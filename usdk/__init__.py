"""usdk: typed LTTng user-space tracepoints for Python.

Example::

    import usdk

    shop = usdk.Provider("shop")

    @shop.tracepoint
    def checkout(cart_id: int, total: float) -> bool:   # shop:checkout_entry / _exit
        ...

    miss = shop.event("cache_miss", key=str, size=int)  # shop:cache_miss
    miss(key="a", size=3)

``import usdk`` loads neither pandas nor bt2, and nothing native until an event is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from usdk.errors import (  # noqa: E402
    CorruptTraceError,
    NativeVersionError,
    ProviderBuildError,
    SchemaError,
    SessionError,
    TraceError,
    UsdkError,
    UsdkWarning,
)
from usdk.provider import Provider  # noqa: E402
from usdk.schema import FieldType  # noqa: E402
from usdk.tracepoint import Tracepoint, current_span_id, event, tracepoint  # noqa: E402

__all__ = [
    "__version__",
    "CorruptTraceError",
    "FieldType",
    "NativeVersionError",
    "Provider",
    "ProviderBuildError",
    "SchemaError",
    "SessionError",
    "TraceError",
    "Tracepoint",
    "UsdkError",
    "UsdkWarning",
    "current_span_id",
    "event",
    "tracepoint",
]
