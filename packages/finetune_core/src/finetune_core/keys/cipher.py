"""Encryption of stored provider keys (Fernet: AES-128-CBC + HMAC-SHA256) and masking for display.

The secret comes from the setting `secret_key` (FINETUNE_SECRET_KEY), the same on every host
sharing a database; without one, a random secret is made once in the workspace folder
(`secret.key`, mode 0600), which suits the embedded single-machine default.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from finetune_core.errors import FinetuneError

SECRET_FILE = "secret.key"


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def workspace_secret(root: Path) -> str:
    """The secret kept in the workspace, created on first use (atomically, owner-only)."""
    path = root / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(32)
    # written whole under a private name, then linked into place: another process starting at the same moment
    # (a server's workers) finds either no file or the whole secret, never an empty one
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secret)
        os.link(draft, path)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return secret


class KeyCipher:
    def __init__(self, secret: str) -> None:
        # imported here: cryptography's bindings are ~6 MB resident, needed only where a key is read or stored
        from cryptography.fernet import Fernet

        if len(secret) < 16:
            raise FinetuneError("the secret key must be at least 16 characters", error_code="WEAK_SECRET")
        self._fernet = Fernet(_fernet_key(secret))

    def encrypt(self, key: str) -> str:
        return self._fernet.encrypt(key.encode()).decode()

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise FinetuneError("a stored API key cannot be decrypted: the secret key has changed since it was "
                                "stored; store the key again", error_code="KEY_UNREADABLE") from None


def mask_key(key: str, prefix: str = "") -> str:
    """`sk-…abcd`: the provider's public prefix and the last four characters, never more than a third."""
    tail = key[-4:] if len(key) >= 12 else ""
    head = prefix if prefix and key.startswith(prefix) else ""
    return f"{head}…{tail}"
