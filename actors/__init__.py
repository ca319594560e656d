"""The actor kernel: actors, refs, mailboxes, ask/tell, supervision, backoff and dead letters.

It knows nothing of workflows, HTTP or SQL. The TCP transport and wire codec live in
`repertory.actors.transport`, test helpers in `repertory.actors.testing`.
"""

from __future__ import annotations

from ._actor import Actor as Actor
from ._backoff import ExponentialBackoff as ExponentialBackoff
from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._dead_letters import DeadLetter as DeadLetter
from ._dead_letters import DeadLetterOffice as DeadLetterOffice
from ._envelope import DeferredReply as DeferredReply
from ._envelope import Reply as Reply
from ._envelope import Request as Request
from ._errors import ActorError as ActorError
from ._errors import ActorNameTakenError as ActorNameTakenError
from ._errors import ActorNotFoundError as ActorNotFoundError
from ._errors import ActorStoppedError as ActorStoppedError
from ._errors import CodecError as CodecError
from ._errors import ConnectionLostError as ConnectionLostError
from ._errors import HandshakeError as HandshakeError
from ._errors import MailboxFullError as MailboxFullError
from ._errors import RemoteActorError as RemoteActorError
from ._errors import RestartIntensityError as RestartIntensityError
from ._errors import TransientError as TransientError
from ._errors import TransportError as TransportError
from ._errors import UnhandledMessageError as UnhandledMessageError
from ._ref import ActorRef as ActorRef
from ._slot import Restart as Restart
from ._supervisor import RestartIntensity as RestartIntensity
from ._supervisor import Strategy as Strategy
from ._supervisor import Supervisor as Supervisor
from ._system import ActorSystem as ActorSystem
from ._system import SystemStatistics as SystemStatistics
from ._system import open_actor_system as open_actor_system

__all__ = [
    "Actor",
    "ActorError",
    "ActorNameTakenError",
    "ActorNotFoundError",
    "ActorRef",
    "ActorStoppedError",
    "ActorSystem",
    "Clock",
    "CodecError",
    "ConnectionLostError",
    "DeadLetter",
    "DeadLetterOffice",
    "DeferredReply",
    "ExponentialBackoff",
    "HandshakeError",
    "MailboxFullError",
    "RemoteActorError",
    "Reply",
    "Request",
    "Restart",
    "RestartIntensity",
    "RestartIntensityError",
    "Strategy",
    "Supervisor",
    "SystemClock",
    "SystemStatistics",
    "TransientError",
    "TransportError",
    "UnhandledMessageError",
    "open_actor_system",
]
