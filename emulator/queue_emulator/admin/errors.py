"""The one place a failure becomes a management-protocol error: an HTTP status and Service Bus' ``<Error>`` body
(``<Code>`` the status, ``<Detail>`` the message), which the SDK turns into ``ResourceNotFoundError`` (404),
``ResourceExistsError`` (409), ``ClientAuthenticationError`` (401) or ``HttpResponseError``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from queue_runtime import errors as qe

from .atom import AtomError, error_document

__all__ = ["AdminError", "error_middleware", "error_response"]

log = logging.getLogger("queue_emulator.admin")

_STATUS: tuple[tuple[type[qe.QueueError], int], ...] = (
    (qe.QueueNotFoundError, 404),
    (qe.RuleNotFoundError, 404),
    (qe.QueueAlreadyExistsError, 409),
    (qe.RuleAlreadyExistsError, 409),
    (qe.QuotaExceededError, 403),
    (qe.AuthenticationError, 401),
    (qe.AuthorizationError, 401),
)

# Service Bus' sub-codes, as they appear at the start of its error details.
_SUBCODE = {400: 40000, 401: 40100, 403: 40300, 404: 40400, 405: 40500, 409: 40900, 500: 50000}


class AdminError(Exception):
    """An HTTP failure of this endpoint that is no engine error (bad route, missing token)."""

    def __init__(self, status: int, detail: str, *, subcode: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.subcode = subcode


def error_response(status: int, detail: str, *, subcode: int | None = None) -> web.Response:
    code = subcode if subcode is not None else _SUBCODE.get(status, status * 100)
    body = error_document(status, f"SubCode={code}. {detail}")
    return web.Response(status=status, body=body, content_type="application/xml", charset="utf-8")


def _status(error: qe.QueueError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except AdminError as exc:
        return error_response(exc.status, exc.detail, subcode=exc.subcode)
    except AtomError as exc:
        return error_response(400, exc.message)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        return error_response(400, problems)
    except qe.QueueError as exc:
        return error_response(_status(exc), exc.message)
    except web.HTTPException as exc:
        return error_response(exc.status, exc.reason)
    except Exception:  # a bug: answered, logged, never a dropped connection
        log.exception("administration request %s %s failed", request.method, request.path)
        return error_response(500, "internal error in the emulator (logged)")
