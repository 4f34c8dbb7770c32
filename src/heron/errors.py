"""heron's exceptions. Every API error is one of these, mapped to one HTTP status.

HeronError
├── BadRequest          400  malformed input, invalid filter, unknown column or operator
├── Unauthorized        401  missing or wrong key
├── Forbidden           403  the key's scope does not allow this
├── NotFound            404  no such object in the caller's project
├── RequestTimeout      408  the request body stalled or took too long
├── Conflict            409  the name or key already exists
├── PayloadTooLarge     413  body over the configured limit
├── UnsupportedMedia    415  content type heron does not read
├── RateLimited         429  over the key's or project's rate; retry after ``retry_after``
├── Overloaded          503  the writer is behind; retry after ``retry_after`` seconds
│   └── StorageUnavailable 503  the journal cannot be written (disk full, I/O error)
├── QueryTimeout        503  a read ran past HERON_QUERY_TIMEOUT_S and was cancelled
└── NotOnCluster        501  a store method the cluster backend does not have yet
"""

from __future__ import annotations


class HeronError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HeronError):
    status_code = 400
    code = "bad_request"


class Unauthorized(HeronError):
    status_code = 401
    code = "unauthorized"


class Forbidden(HeronError):
    status_code = 403
    code = "forbidden"


class NotFound(HeronError):
    status_code = 404
    code = "not_found"


class RequestTimeout(HeronError):
    status_code = 408
    code = "request_timeout"


class Conflict(HeronError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(HeronError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMedia(HeronError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(HeronError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(HeronError):
    status_code = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueryTimeout(HeronError):
    """A metrics or compare query cancelled at the time limit: the query asks too much of
    the data now (a narrower one will answer), so no Retry-After is suggested."""

    status_code = 503
    code = "query_timeout"


class StorageUnavailable(Overloaded):
    """Ingest paused because the journal cannot be written (disk full, I/O error); 503 so
    OTLP exporters retry, with ``retry_after``."""

    code = "storage_unavailable"


class NotOnCluster(HeronError):
    """A store method the ClickHouse + PostgreSQL backend does not have yet (issue 18): the
    request is valid, the server cannot serve it in this mode (501, naming the method)."""

    status_code = 501
    code = "not_implemented"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"{method} is not available on the cluster backend (ClickHouse + PostgreSQL) yet; "
            "it works on the embedded store"
        )
        self.method = method
