"""API keys: their format, the record stored for each, and checking a presented key (pure).

A key reads `rpk_<id>_<secret>` (8 and 64 hex digits): the id finds the record, and only a
hash of the secret is stored. Secrets are 256 random bits, so one round of SHA-256 is enough
(a slow password hash protects guessable secrets, which these are not); hashes are compared
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

PREFIX: Final = "rpk"
_ID_BYTES: Final = 4
_SECRET_BYTES: Final = 32
_HEX: Final = frozenset("0123456789abcdef")
# Compared against when no key has the presented id, so that an unknown id takes as long.
_NO_HASH: Final = hashlib.sha256(b"no such key").hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh key: (id, the whole key to hand out once, the hash of its secret to store)."""
    key_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_hex(_SECRET_BYTES)
    return key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(id, secret) of a key in the right format, else None."""
    parts = presented.split("_")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    key_id, secret = parts[1], parts[2]
    if len(key_id) != 2 * _ID_BYTES or len(secret) != 2 * _SECRET_BYTES:
        return None
    if not _HEX.issuperset(key_id) or not _HEX.issuperset(secret):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Whether `secret` hashes to `stored_hash`, in constant time (and as long when None)."""
    expected = _NO_HASH if stored_hash is None else stored_hash
    return hmac.compare_digest(hash_secret(secret), expected) and stored_hash is not None
