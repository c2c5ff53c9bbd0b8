"""The one place a failure becomes the REST error body ``{"error": {code, message, details, ...}}``.

The HTTP status follows the error's class; the body's ``code`` is the class's stable ``code``, which the
``emulator`` provider turns back into the same class with :func:`queue_runtime.errors.error_from_wire`.
Anything that is not a :class:`QueueError` yet (bad JSON, pydantic validation, aiohttp's own HTTP errors, bugs)
is first converted to one here, so the server answers every input with a structured error and never crashes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from queue_runtime import errors as qe
from queue_runtime._validation import plain_message

from .keys import SETTINGS, STATS
from .wire import ErrorBody, ErrorResponse

__all__ = ["error_body", "error_middleware", "error_response", "http_status", "to_queue_error"]

log = logging.getLogger("queue_emulator")

# Most specific first: the first class the error is an instance of wins.
_STATUS: tuple[tuple[type[qe.QueueError], int], ...] = (
    (qe.MessageTooLargeError, 413),
    (qe.BatchTooLargeError, 413),
    (qe.ValidationError, 400),
    (qe.SessionRequiredError, 409),  # well-formed, but the queue's configuration says otherwise
    (qe.UnsupportedOperationError, 400),
    (qe.MessageDecodeError, 400),
    (qe.ConfigurationError, 400),
    (qe.QueueNotFoundError, 404),
    (qe.MessageNotFoundError, 404),
    (qe.RuleNotFoundError, 404),
    (qe.RuleAlreadyExistsError, 409),
    (qe.QueueAlreadyExistsError, 409),
    (qe.SessionCannotBeLockedError, 409),
    (qe.MessageLockLostError, 410),
    (qe.MessageLockedError, 409),  # well-formed, but a receiver holds the message now
    (qe.SessionLockLostError, 410),
    (qe.QuotaExceededError, 403),
    (qe.AuthenticationError, 401),
    (qe.AuthorizationError, 403),
    (qe.ThrottledError, 429),
    (qe.OperationTimeoutError, 504),
    (qe.QueueConnectionError, 502),
    (qe.TransientError, 503),
)


def http_status(error: qe.QueueError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def error_body(error: qe.QueueError) -> ErrorBody:
    """The wire form of an error, also used per item in batch results."""
    return ErrorBody(
        code=error.code,
        message=error.message,
        details=_jsonable(error.details),
        transient=error.transient,
        retry_after=error.retry_after,
    )


def error_response(error: qe.QueueError, status: int | None = None) -> web.Response:
    body = ErrorResponse(error=error_body(error))
    headers = {"Retry-After": str(max(1, round(error.retry_after)))} if error.retry_after else {}
    if status == 405 and isinstance(error.details.get("allowed"), str):
        headers["Allow"] = str(error.details["allowed"]).replace(",", ", ")  # RFC 9110: a 405 lists them
    return web.Response(
        body=body.model_dump_json(),
        status=status or http_status(error),
        content_type="application/json",
        headers=headers,
    )


def _jsonable(details: dict[str, object]) -> dict[str, object]:
    return {k: v if v is None or isinstance(v, str | int | float | bool) else str(v) for k, v in details.items()}


def _pydantic_to_queue_error(exc: PydanticValidationError) -> qe.ValidationError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "json_invalid":
        return qe.ValidationError("body", "is not valid JSON")
    # pydantic's own text may echo input values (message bodies): keep only the location and the rule.
    return qe.ValidationError(field, plain_message(first), details={"error_count": exc.error_count()})


def to_queue_error(exc: BaseException, request: web.Request) -> qe.QueueError:
    if isinstance(exc, qe.QueueError):
        return exc
    if isinstance(exc, PydanticValidationError):
        return _pydantic_to_queue_error(exc)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return qe.MessageTooLargeError(request.content_length or 0, request.app[SETTINGS].max_request_size)
    if isinstance(exc, web.HTTPNotFound):
        return qe.UnsupportedOperationError(
            f"no such resource: {request.method} {request.path}", details={"path": request.path}
        )
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return qe.UnsupportedOperationError(
            f"method {request.method} is not allowed on {request.path}",
            details={"path": request.path, "allowed": ",".join(sorted(exc.allowed_methods))},
        )
    if isinstance(exc, web.HTTPException):
        return qe.ValidationError("request", exc.reason)
    log.exception("internal error on %s %s", request.method, request.path, exc_info=exc)
    return qe.ProviderError(f"internal emulator error ({type(exc).__name__}); see the emulator log")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    stats = request.app[STATS]
    operation = request.match_info.route.name or "other"
    try:
        response = await handler(request)
    except web.HTTPSuccessful:
        raise
    except web.HTTPRedirection:
        raise
    except Exception as exc:  # every failure gets a structured body; nothing escapes to aiohttp
        error = to_queue_error(exc, request)
        stats.record(operation, error.code)
        # aiohttp's routing answers (404 no route, 405 wrong method) keep their status.
        routing = exc.status if isinstance(exc, web.HTTPNotFound | web.HTTPMethodNotAllowed) else None
        return error_response(error, routing)
    stats.record(operation, None)
    return response
