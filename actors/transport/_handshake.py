"""The authenticated handshake: both peers prove they know the shared secret (HMAC-SHA256).

client -> server  HELLO      ["repertory", version, client nonce, client limits...]
server -> client  CHALLENGE  ["challenge", server nonce, server limits...]
client -> server  PROOF      ["proof", HMAC(secret, "client" | sn | cn | limits)]
server -> client  WELCOME    ["welcome", HMAC(secret, "server" | cn | sn | limits)]
                             (or, at any step, ["reject", reason])

The limits of each side are its max frame size and its max asks in flight; `limits` packs
all four as 4-byte big-endian ints (frame sizes client first, then asks in flight client
first). Each side picks a fresh random nonce, so neither proof can be replayed, and the labels
keep a proof from one role from passing for the other. Both proofs cover the limits, so that
neither can be tampered with: each side sends frames the other accepts, and both use the
smaller bound on asks in flight. The secret itself never crosses the wire.

The connecting side proves itself first: the server sends its proof only to a client that
has proved it knows the secret, so an anonymous client learns nothing it could use to guess
the secret offline. (A client does prove itself to whatever server it connects to; that is
why `open_node` refuses short secrets.)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import reprlib
import secrets
import struct
from typing import TYPE_CHECKING, Final, NamedTuple

import anyio
import msgpack

from .._errors import HandshakeError
from ._frames import HEADER, FrameReader, ProtocolError

if TYPE_CHECKING:
    from anyio.abc import ByteStream

PROTOCOL: Final = "repertory"
PROTOCOL_VERSION: Final = 2
NONCE_SIZE: Final = 32

#: The smallest frame size limit a node may have.
MIN_FRAME_SIZE: Final = 64

#: The shortest shared secret a node accepts, in bytes.
MIN_SECRET_SIZE: Final = 16

#: Frames before authentication are tiny: an unauthenticated peer cannot make us buffer more.
HANDSHAKE_MAX_FRAME_SIZE: Final = 256

_LIMITS: Final = struct.Struct(">IIII")


class Limits(NamedTuple):
    """What one side of a connection accepts, as announced in the handshake."""

    max_frame_size: int  # the largest frame payload it accepts
    max_asks_in_flight: int  # how many of the peer's asks it serves at once


def _parse_limits(max_frame_size: object, max_asks_in_flight: object) -> Limits | None:
    """The limits a peer announced, or None if they are not ints in range."""
    if type(max_frame_size) is not int or type(max_asks_in_flight) is not int:
        return None
    if not MIN_FRAME_SIZE <= max_frame_size < 2**32 or not 1 <= max_asks_in_flight < 2**32:
        return None
    return Limits(max_frame_size, max_asks_in_flight)


def _pack_limits(client: Limits, server: Limits) -> bytes:
    return _LIMITS.pack(
        client.max_frame_size,
        server.max_frame_size,
        client.max_asks_in_flight,
        server.max_asks_in_flight,
    )


def _proof(secret: bytes, label: bytes, first: bytes, second: bytes, limits: bytes) -> bytes:
    return hmac.new(secret, label + first + second + limits, hashlib.sha256).digest()


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


async def client_handshake(
    stream: ByteStream, reader: FrameReader, secret: bytes, limits: Limits
) -> Limits:
    """Authenticate a connection we opened, and the peer to us (blocks).

    Returns:
        The peer's limits.

    Raises:
        HandshakeError: the peer rejected us, failed to prove the secret, or broke the protocol.
    """
    client_nonce = secrets.token_bytes(NONCE_SIZE)
    await _send(stream, PROTOCOL, PROTOCOL_VERSION, client_nonce, *limits)
    frame = await _receive(reader, "challenge")
    if len(frame) != 4 or frame[0] != "challenge":
        raise HandshakeError("the peer sent a malformed challenge")
    _, server_nonce, max_frame_size, max_asks_in_flight = frame
    server_limits = _parse_limits(max_frame_size, max_asks_in_flight)
    if type(server_nonce) is not bytes or len(server_nonce) != NONCE_SIZE or server_limits is None:
        raise HandshakeError("the peer sent a malformed challenge")
    packed = _pack_limits(limits, server_limits)
    await _send(stream, "proof", _proof(secret, b"client", server_nonce, client_nonce, packed))
    frame = await _receive(reader, "welcome")
    if len(frame) != 2 or frame[0] != "welcome" or type(frame[1]) is not bytes:
        raise HandshakeError("the peer sent a malformed welcome")
    expected = _proof(secret, b"server", client_nonce, server_nonce, packed)
    if not hmac.compare_digest(frame[1], expected):
        raise HandshakeError("the peer failed to prove that it knows the shared secret")
    return server_limits


async def server_handshake(
    stream: ByteStream, reader: FrameReader, secret: bytes, limits: Limits
) -> Limits:
    """Authenticate a connection a peer opened to us, and us to the peer (blocks).

    A peer that fails is told why (without details that would help an attacker), and never
    sees our proof.

    Returns:
        The peer's limits.

    Raises:
        HandshakeError: the peer failed to prove the secret or broke the protocol.
    """
    frame = await _receive(reader, "hello")
    if len(frame) < 2 or frame[0] != PROTOCOL:
        raise HandshakeError("the peer sent a malformed hello")
    version = frame[1]
    if version != PROTOCOL_VERSION:
        await _reject(stream, f"unsupported protocol version {reprlib.repr(version)}")
        raise HandshakeError(f"the peer speaks protocol version {reprlib.repr(version)}")
    if len(frame) != 5:
        raise HandshakeError("the peer sent a malformed hello")
    _, _, client_nonce, max_frame_size, max_asks_in_flight = frame
    client_limits = _parse_limits(max_frame_size, max_asks_in_flight)
    if type(client_nonce) is not bytes or len(client_nonce) != NONCE_SIZE or client_limits is None:
        raise HandshakeError("the peer sent a malformed hello")
    server_nonce = secrets.token_bytes(NONCE_SIZE)
    await _send(stream, "challenge", server_nonce, *limits)
    frame = await _receive(reader, "proof")
    if len(frame) != 2 or frame[0] != "proof" or type(frame[1]) is not bytes:
        raise HandshakeError("the peer sent a malformed proof")
    packed = _pack_limits(client_limits, limits)
    expected = _proof(secret, b"client", server_nonce, client_nonce, packed)
    if not hmac.compare_digest(frame[1], expected):
        await _reject(stream, "authentication failed")
        raise HandshakeError("the peer failed to prove that it knows the shared secret")
    await _send(stream, "welcome", _proof(secret, b"server", client_nonce, server_nonce, packed))
    return client_limits


async def _reject(stream: ByteStream, reason: str) -> None:
    # Best effort: the peer may already be gone, and we drop the connection either way.
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await _send(stream, "reject", reason)
