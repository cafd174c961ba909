"""usdk: typed LTTng user-space tracepoints for Python.

Example::

    import usdk

    shop = usdk.Provider("shop")

    @shop.tracepoint
    def checkout(cart_id: int, total: float) -> bool:
        ...
"""

from __future__ import annotations

__version__ = "0.1.0"

from usdk.errors import (  # noqa: E402
    CorruptTraceError,
    ProviderBuildError,
    SchemaError,
    SessionError,
    TraceError,
    UsdkError,
)

__all__ = [
    "__version__",
    "CorruptTraceError",
    "ProviderBuildError",
    "SchemaError",
    "SessionError",
    "TraceError",
    "UsdkError",
]
