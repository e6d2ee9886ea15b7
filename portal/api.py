"""The code exchange API: how the agency's portal learns who confirmed a link.

`POST /api/v1/exchange` with `Authorization: Bearer <api key>` and JSON `{"code": "..."}` answers 200 with
`{"contact": {"id", "email", "first_name", "last_name", "company"}, "purpose", "redeemed_at"}`, once per code.
Errors follow OAuth 2.0's token endpoint (RFC 6749 §5.2): 401 `invalid_client` for a missing, wrong or revoked
key; 400 `invalid_request` for a body that is not that JSON; 400 `invalid_grant` for a code that is unknown,
expired, already exchanged, or whose contact's access was revoked since (one description for all: the real
reason is in the audit log).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

from models import api_keys, handoff

if TYPE_CHECKING:
    from portal.app import Portal

MAX_BODY_BYTES = 1024
"""A code is 43 characters; a body of a kilobyte is already generous."""


def error(status: int, code: str, description: str) -> JSONResponse:
    """An OAuth-style error answer."""
    headers = {"www-authenticate": 'Bearer realm="client-portal"'} if status == 401 else None
    return JSONResponse({"error": code, "error_description": description}, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def exchange(portal: Portal, request: Request) -> JSONResponse:
    """`POST /api/v1/exchange`."""
    from portal.app import BodyTooLarge, read_body

    key = _bearer(request)
    if key is None:
        return error(401, "invalid_client", "send the API key as: Authorization: Bearer <key>")
    code = None
    try:
        payload = json.loads(await read_body(request, MAX_BODY_BYTES))
        if isinstance(payload, dict) and isinstance(payload.get("code"), str):
            code = payload["code"]
    except (BodyTooLarge, ValueError):
        pass
    return await portal.db(_exchange, portal.writes, key, code)


def _exchange(writes, key: str, code: str | None) -> JSONResponse:
    name = api_keys.authenticate(key)
    if name is None:
        return error(401, "invalid_client", "the API key is wrong or was revoked")
    if code is None:
        return error(400, "invalid_request", 'send JSON {"code": "<the code from the callback URL>"}')
    try:
        with writes:
            done = handoff.exchange(code, name)
    except handoff.KeyRefused:
        return error(401, "invalid_client", "the API key is wrong or was revoked")
    except handoff.ExchangeRefused as exc:
        with writes:
            handoff.record_exchange_refusal(code, exc.reason, name)
        return error(400, "invalid_grant", "the code is invalid, expired or already used")
    return JSONResponse(done.as_json())
