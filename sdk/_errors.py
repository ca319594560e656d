"""Errors of the client, one root for them (a misused client raises the runtime's
`UsageError`, as the rest of repertory does).

ClientError                          the server answered an error, or could not be reached
├── AuthError                        401 or 403: no key, a key that does not work or may not
├── NotFoundError (LookupError)      404: no such object (in this workspace)
├── ValidationError (ValueError)     400 or 422: the request does not validate
├── ConflictError                    409: the state of things forbids it (an ended run...)
└── ServerError                      5xx or 429 after the retries, or the server unreachable
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


class ClientError(Exception):
    """An error answer of the server (`status` 0: no answer at all), with its body's fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, object] | None = None,
        request_id: str | None = None,
    ) -> None:
        said = _problems(details)
        told = f"{message}: {said}" if said else message
        super().__init__(f"{told} ({status} {code})" if status else told)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.request_id = request_id


class AuthError(ClientError):
    """401 or 403: no API key, one that does not work, or one that may not do this."""


class NotFoundError(ClientError, LookupError):
    """404: no such object, or not in this workspace."""


class ValidationError(ClientError, ValueError):
    """400 or 422: the request does not validate; `details` says what is wrong."""


class ConflictError(ClientError):
    """409: the request conflicts with the state of things (a run that already ended, an
    idempotency key used for another request)."""


class ServerError(ClientError):
    """The server failed (5xx), kept refusing (429) after the retries, or was unreachable."""


def _problems(details: Mapping[str, object] | None) -> str:
    """What a 422's `details` says is wrong, in a line: `at: problem; ...` (the first three)."""
    errors = (details or {}).get("errors")
    if not isinstance(errors, list):
        return ""
    said = [
        f"{error.get('at') or 'the request'}: {error.get('problem')}"
        for error in errors[:3]
        if isinstance(error, dict)
    ]
    return "; ".join(said) + (" ..." if len(errors) > 3 else "")
