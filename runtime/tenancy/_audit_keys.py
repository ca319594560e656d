"""The keys that sign the audit log: HMAC-SHA256 secrets kept outside the database.

A plain hash chain only shows edits by someone who cannot re-hash: whoever can write the
database can edit a record and re-chain everything after it. Keyed hashes need the key too,
and it is not in the database: it comes from the environment (`REPERTORY_AUDIT_KEY`, one
key) or from the file `$REPERTORY_HOME/audit.keys`, made (mode 0600) with a fresh key when
first needed. `rotate_audit_key` adds a key that signs from the next start on; the older ones
stay in the file to verify what they signed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

#: The environment variable that may hold the one key (any string of 16 characters or more).
KEY_VARIABLE: Final = "REPERTORY_AUDIT_KEY"
KEYS_FILE: Final = "audit.keys"
_MIN_SECRET: Final = 16


def key_id_of(secret: bytes) -> str:
    """A key's public name: records and checkpoints say which key signed them."""
    return hashlib.sha256(b"repertory audit key\n" + secret).hexdigest()[:16]


@final
class AuditKeyring:
    """Keys by id; the current one signs."""

    __slots__ = ("_keys", "current")

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"the current audit key {current!r} is not among the keys")
        self._keys = dict(keys)
        self.current = current

    @classmethod
    def of(cls, *secrets_: bytes) -> AuditKeyring:
        """A keyring of these secrets, the last one current."""
        keys = {key_id_of(secret): secret for secret in secrets_}
        return cls(keys, key_id_of(secrets_[-1]))

    def has(self, key_id: str) -> bool:
        return key_id in self._keys

    def sign(self, data: bytes, key_id: str | None = None) -> str:
        """The hex HMAC-SHA256 of `data` with the key `key_id` (the current one by default).

        Raises:
            KeyError: no key of that id.
        """
        secret = self._keys[key_id or self.current]
        return hmac.new(secret, data, hashlib.sha256).hexdigest()

    def is_signed(self, data: bytes, signature: str, key_id: str) -> bool:
        """Whether `signature` is the HMAC of `data` with the key `key_id` (constant time)."""
        if key_id not in self._keys:
            return False
        return hmac.compare_digest(self.sign(data, key_id), signature)


def load_audit_keys(home: Path, environ: Mapping[str, str] = os.environ) -> AuditKeyring:
    """The keyring: `REPERTORY_AUDIT_KEY` if set, else the keys file in `home`, made with a
    fresh key when missing (blocks: file I/O).

    Raises:
        ValueError: the variable holds fewer than 16 characters, or the file is malformed.
        OSError: the file cannot be read or made.
    """
    given = environ.get(KEY_VARIABLE)
    if given is not None:
        if len(given) < _MIN_SECRET:
            raise ValueError(f"{KEY_VARIABLE} needs {_MIN_SECRET} characters or more")
        return AuditKeyring.of(given.encode())
    path = home / KEYS_FILE
    if not path.exists():
        _create_keys_file(path)
    return _read_keys(path)


def rotate_audit_key(home: Path) -> str:
    """Add a fresh key to the keys file in `home` (made 0600 if missing) and return its id:
    it signs from the next start of a runtime on; the keys before it still verify (blocks)."""
    home.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    path = home / KEYS_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a") as keys:
        keys.write(f"{key_id_of(secret)} {secret.hex()}\n")
    return key_id_of(secret)


def _create_keys_file(path: Path) -> None:
    """Make the keys file with a fresh key, whole or not at all: two runtimes starting at
    once must not each make a key of their own (the later one wins nothing: it reads the
    file the first made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as keys:
            keys.write(f"{key_id_of(secret)} {secret.hex()}\n")
        with contextlib.suppress(FileExistsError):  # someone made it first: theirs it is
            os.link(draft, path)
    finally:
        draft.unlink()


def _read_keys(path: Path) -> AuditKeyring:
    keys: dict[str, bytes] = {}
    current = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            key_id, secret = parts[0], bytes.fromhex(parts[1])
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: not '<id> <hex secret>'") from None
        if len(parts) != 2 or key_id != key_id_of(secret) or len(secret) < _MIN_SECRET:
            raise ValueError(f"{path}:{number}: not a key this runtime made")
        keys[key_id] = secret
        current = key_id
    if not keys:
        raise ValueError(f"{path} holds no key")
    return AuditKeyring(keys, current)
