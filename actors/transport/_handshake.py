"""The authenticated handshake: both peers prove they know the shared secret (HMAC-SHA256).

client -> server  HELLO      ["repertory", version, client nonce, client max frame size]
server -> client  CHALLENGE  ["challenge", server nonce, server max frame size,
                              HMAC(secret, "server" | cn | sn | sizes)]
client -> server  PROOF      ["proof", HMAC(secret, "client" | sn | cn | sizes)]
server -> client  WELCOME    ["welcome"]     (or, at any step, ["reject", reason])

Each side picks a fresh random nonce, so neither proof can be replayed, and the labels keep a
proof from one role from passing for the other. Both proofs cover the two frame size limits
(`sizes` is both, client first, as 4-byte big-endian ints), so that each side sends frames the
other accepts. The secret itself never crosses the wire.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import reprlib
import secrets
import struct
from typing import TYPE_CHECKING, Final

import anyio
import msgpack

from .._errors import HandshakeError
from ._frames import HEADER, FrameReader, ProtocolError

if TYPE_CHECKING:
    from anyio.abc import ByteStream

PROTOCOL: Final = "repertory"
PROTOCOL_VERSION: Final = 1
NONCE_SIZE: Final = 32

#: The smallest frame size limit a node may have.
MIN_FRAME_SIZE: Final = 64

#: Frames before authentication are tiny: an unauthenticated peer cannot make us buffer more.
HANDSHAKE_MAX_FRAME_SIZE: Final = 256


_SIZES: Final = struct.Struct(">II")


def _proof(secret: bytes, label: bytes, first: bytes, second: bytes, sizes: bytes) -> bytes:
    return hmac.new(secret, label + first + second + sizes, hashlib.sha256).digest()


async def _send(stream: ByteStream, *fields: object) -> None:
    payload = msgpack.packb(fields)
    await stream.send(HEADER.pack(len(payload)) + payload)


async def _receive(reader: FrameReader, what: str) -> tuple[object, ...]:
    """Receive one handshake frame, raising HandshakeError if it is not an array."""
    try:
        frame = msgpack.unpackb(await reader.receive_frame(), use_list=False)
    except anyio.EndOfStream:
        raise HandshakeError(f"the peer closed the connection before its {what}") from None
    except (ValueError, TypeError, msgpack.UnpackException, ProtocolError) as exc:
        raise HandshakeError(f"the peer sent a malformed {what}: {exc}") from exc
    if type(frame) is not tuple or not frame:
        raise HandshakeError(f"the peer sent a malformed {what}")
    if frame[0] == "reject" and len(frame) == 2:
        raise HandshakeError(f"the peer rejected the handshake: {frame[1]}")
    return frame


def _is_valid(nonce: bytes, max_frame_size: int) -> bool:
    return len(nonce) == NONCE_SIZE and MIN_FRAME_SIZE <= max_frame_size < 2**32


async def client_handshake(
    stream: ByteStream, reader: FrameReader, secret: bytes, max_frame_size: int
) -> int:
    """Authenticate a connection we opened, and the peer to us (blocks).

    Returns:
        The largest frame the peer accepts.

    Raises:
        HandshakeError: the peer rejected us, failed to prove the secret, or broke the protocol.
    """
    client_nonce = secrets.token_bytes(NONCE_SIZE)
    await _send(stream, PROTOCOL, PROTOCOL_VERSION, client_nonce, max_frame_size)
    frame = await _receive(reader, "challenge")
    if len(frame) != 4 or frame[0] != "challenge":
        raise HandshakeError("the peer sent a malformed challenge")
    _, server_nonce, server_max_frame_size, server_proof = frame
    if (
        type(server_nonce) is not bytes
        or type(server_max_frame_size) is not int
        or type(server_proof) is not bytes
        or not _is_valid(server_nonce, server_max_frame_size)
    ):
        raise HandshakeError("the peer sent a malformed challenge")
    sizes = _SIZES.pack(max_frame_size, server_max_frame_size)
    expected = _proof(secret, b"server", client_nonce, server_nonce, sizes)
    if not hmac.compare_digest(server_proof, expected):
        raise HandshakeError("the peer failed to prove that it knows the shared secret")
    await _send(stream, "proof", _proof(secret, b"client", server_nonce, client_nonce, sizes))
    frame = await _receive(reader, "welcome")
    if frame != ("welcome",):
        raise HandshakeError("the peer sent a malformed welcome")
    return server_max_frame_size


async def server_handshake(
    stream: ByteStream, reader: FrameReader, secret: bytes, max_frame_size: int
) -> int:
    """Authenticate a connection a peer opened to us, and us to the peer (blocks).

    A peer that fails is told why (without details that would help an attacker).

    Returns:
        The largest frame the peer accepts.

    Raises:
        HandshakeError: the peer failed to prove the secret or broke the protocol.
    """
    frame = await _receive(reader, "hello")
    if len(frame) != 4 or frame[0] != PROTOCOL:
        raise HandshakeError("the peer sent a malformed hello")
    _, version, client_nonce, client_max_frame_size = frame
    if version != PROTOCOL_VERSION:
        await _reject(stream, f"unsupported protocol version {reprlib.repr(version)}")
        raise HandshakeError(f"the peer speaks protocol version {reprlib.repr(version)}")
    if (
        type(client_nonce) is not bytes
        or type(client_max_frame_size) is not int
        or not _is_valid(client_nonce, client_max_frame_size)
    ):
        raise HandshakeError("the peer sent a malformed hello")
    server_nonce = secrets.token_bytes(NONCE_SIZE)
    sizes = _SIZES.pack(client_max_frame_size, max_frame_size)
    server_proof = _proof(secret, b"server", client_nonce, server_nonce, sizes)
    await _send(stream, "challenge", server_nonce, max_frame_size, server_proof)
    frame = await _receive(reader, "proof")
    if len(frame) != 2 or frame[0] != "proof" or type(frame[1]) is not bytes:
        raise HandshakeError("the peer sent a malformed proof")
    expected = _proof(secret, b"client", server_nonce, client_nonce, sizes)
    if not hmac.compare_digest(frame[1], expected):
        await _reject(stream, "authentication failed")
        raise HandshakeError("the peer failed to prove that it knows the shared secret")
    await _send(stream, "welcome")
    return client_max_frame_size


async def _reject(stream: ByteStream, reason: str) -> None:
    # Best effort: the peer may already be gone, and we drop the connection either way.
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await _send(stream, "reject", reason)
