"""The mailbox on its own: order, room, waiting senders and receivers, closing."""

from __future__ import annotations

import math

import anyio
import pytest

from repertory.actors._mailbox import Mailbox


async def test_items_come_out_in_the_order_they_went_in() -> None:
    mailbox = Mailbox(10)
    for item in range(5):
        mailbox.put_nowait(item)
    assert len(mailbox) == 5
    assert [mailbox.get_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(anyio.WouldBlock):
        mailbox.get_nowait()


async def test_a_full_mailbox_refuses_put_nowait_and_an_unbounded_one_never_fills() -> None:
    mailbox = Mailbox(2)
    mailbox.put_nowait("a")
    mailbox.put_nowait("b")
    with pytest.raises(anyio.WouldBlock):
        mailbox.put_nowait("c")
    unbounded = Mailbox(math.inf)
    for item in range(10_000):
        unbounded.put_nowait(item)
    assert len(unbounded) == 10_000


async def test_waiting_senders_get_in_in_the_order_they_came() -> None:
    mailbox = Mailbox(1)
    mailbox.put_nowait("first")
    async with anyio.create_task_group() as tg:
        for name in ("second", "third", "fourth"):
            tg.start_soon(mailbox.put, name)
            await anyio.wait_all_tasks_blocked()
        with pytest.raises(anyio.WouldBlock):
            mailbox.put_nowait("late")  # no overtaking the senders that wait
        taken = [await mailbox.get() for _ in range(4)]
    assert taken == ["first", "second", "third", "fourth"]


async def test_a_sender_cancelled_while_it_waits_puts_nothing_in() -> None:
    mailbox = Mailbox(1)
    mailbox.put_nowait("kept")
    async with anyio.create_task_group() as tg:
        tg.start_soon(mailbox.put, "given up")
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert mailbox.get_nowait() == "kept"
    with pytest.raises(anyio.WouldBlock):
        mailbox.get_nowait()
    mailbox.put_nowait("room again")  # the place it held is free


async def test_get_waits_for_an_item() -> None:
    mailbox = Mailbox(4)
    got: list[object] = []

    async def receive() -> None:
        got.append(await mailbox.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        mailbox.put_nowait("hello")
    assert got == ["hello"]


async def test_closing_fails_waiting_senders_and_later_sends_but_keeps_what_is_in() -> None:
    mailbox = Mailbox(1)
    mailbox.put_nowait("in")
    failures: list[type[BaseException]] = []

    async def send() -> None:
        try:
            await mailbox.put("waiting")
        except anyio.ClosedResourceError as exc:
            failures.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await anyio.wait_all_tasks_blocked()
        mailbox.close()
    assert failures == [anyio.ClosedResourceError]
    with pytest.raises(anyio.ClosedResourceError):
        mailbox.put_nowait("after")
    with pytest.raises(anyio.ClosedResourceError):
        await mailbox.put("after")
    assert mailbox.get_nowait() == "in"  # drained by whoever closed it
    with pytest.raises(anyio.WouldBlock):
        mailbox.get_nowait()


async def test_a_receiver_waiting_on_a_mailbox_that_closes_is_told() -> None:
    mailbox = Mailbox(1)
    outcome: list[str] = []

    async def receive() -> None:
        try:
            await mailbox.get()
        except anyio.ClosedResourceError:
            outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        await anyio.wait_all_tasks_blocked()
        mailbox.close()
    assert outcome == ["closed"]
    with pytest.raises(anyio.ClosedResourceError):
        await mailbox.get()
