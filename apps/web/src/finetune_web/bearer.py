"""The user a request's bearer token names, read from the token alone: what rate limits count a caller by.

No database lookup and no app state: rate limits count a request before `finetune_web.auth` authenticates it
(which also checks that the session behind the token is live).
"""

from __future__ import annotations

from flask import request
from flask_jwt_extended import decode_token


def bearer_subject() -> str | None:
    """The user id of a valid access token on this request, if any (no database lookup; for rate limits)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = decode_token(header.removeprefix("Bearer ").strip())
    except Exception:  # any bad token: the caller counts as anonymous
        return None
    return str(claims["sub"]) if claims.get("type") == "access" else None
