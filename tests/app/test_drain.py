"""Deploys drop no call, the live-calls register alone: a drain waits for a call still being set
up and ends one that outlasts the limit as it goes live. Whole-server (`make serve`'s
launcher and workers as real processes): tests/server/test_drain.py."""

from __future__ import annotations

import asyncio

import pytest

from streaming.drain import LiveCalls


class FakeCall:
    def __init__(self, calls: LiveCalls) -> None:
        self.calls = calls
        self.ended = ""

    async def end_for_drain(self, reason: str) -> None:
        self.ended = reason
        self.calls.discard(self)


@pytest.mark.asyncio
async def test_a_drain_waits_for_a_call_being_set_up():
    calls = LiveCalls()
    call = FakeCall(calls)
    with calls.arriving():
        draining = asyncio.create_task(calls.drain(30))
        await asyncio.sleep(0.3)
        assert not draining.done()
        assert calls.add(call) == ""  # set up in time: it goes on as any live call
    await asyncio.sleep(0.3)
    assert not draining.done()
    calls.discard(call)  # ended by itself
    assert await asyncio.wait_for(draining, 5) == 0
    assert call.ended == ""


@pytest.mark.asyncio
async def test_a_set_up_that_outlasts_the_drain_is_ended_as_it_goes_live():
    calls = LiveCalls()
    live, late = FakeCall(calls), FakeCall(calls)
    calls.add(live)
    with calls.arriving():
        draining = asyncio.create_task(calls.drain(1))
        await asyncio.sleep(1.5)
        assert live.ended == "server stopping: drain limit reached (1 s)"
        assert not draining.done()  # it waits for the call still being set up
        reason = calls.add(late)
        assert reason == live.ended
        await late.end_for_drain(reason)  # as the consumer does
    assert await asyncio.wait_for(draining, 5) == 2
