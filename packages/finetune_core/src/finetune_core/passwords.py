"""Password hashing with scrypt (stdlib): a random salt per password, the cost stored with the hash.

A stored hash reads `scrypt$N$r$p$salt$digest` (salt and digest base64), so the default cost can
rise later and old hashes still verify (`needs_rehash` tells when to store a new one).
Checks compare in constant time. Nothing here logs or keeps a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
DIGEST_BYTES = 32


@dataclass(frozen=True)
class ScryptCost:
    n: int = 2**14
    r: int = 8
    p: int = 5

    @property
    def max_memory(self) -> int:
        return 2 * 128 * self.n * self.r + 1024 * 1024  # what scrypt needs, with room to spare


# one of OWASP's recommended scrypt settings (N=2^14, r=8, p=5): 16 MiB a hash
DEFAULT_COST = ScryptCost()


def _digest(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    secret = password.encode("utf-8", "surrogatepass")  # any str a JSON body can carry, lone surrogates included
    return hashlib.scrypt(secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.max_memory, dklen=DIGEST_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, cost: ScryptCost | None = None) -> str:
    cost = cost or DEFAULT_COST
    salt = os.urandom(SALT_BYTES)
    return f"{SCHEME}${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(_digest(password, salt, cost))}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        cost = ScryptCost(n=int(parts[1]), r=int(parts[2]), p=int(parts[3]))
        return cost, base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for a wrong one or an unusable hash (the local user's "")."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    cost, salt, expected = parsed
    return hmac.compare_digest(_digest(password, salt, cost), expected)


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with another cost than today's default."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] != DEFAULT_COST


def burn_time(password: str) -> None:
    """Spend what a check costs, for a login whose user does not exist (no timing hint that it does not)."""
    _digest(password, b"\0" * SALT_BYTES, DEFAULT_COST)
