"""The stream socket Sautikit opens for a call (mod_audio_fork's protocol)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError

from streaming import metrics
from streaming.core.audio.recording import Recorder
from streaming.core.call.bridge import TURN, CallBridge, CallParts
from streaming.core.call.endings import CallEnd, EndedBy
from streaming.core.call.reports import ReportWriter
from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.core.call.upstream import UpstreamError
from streaming.core.engines import bridge_for
from streaming.drain import LIVE
from streaming.ground import strict_json
from streaming.ground.text import state_key, strip_nul
from streaming.groups import call_group
from streaming.records import CallRecords, CallSetup
from streaming.tokens import check_token

log = logging.getLogger(__name__)

# Normalised with state_key, as the webhooks that publish them do.
ENDING_STATES = {"streamstopped", "streamerror"}
# How long the end of a call waits for its record to be stored before leaving that to the
# report writer in the background (the caller's socket is closed before either).
DRAIN_TIMEOUT_S = 10
# Redis answers in a millisecond; stalled, a new call waits no longer than this for its group
# (it joins again every CHANNEL_GROUP_RENEW_S, and the heartbeat covers what it misses).
GROUP_JOIN_TIMEOUT_S = 0.5
# Reading the channel layer failed (Redis down or slow): tried again after this, doubling.
LAYER_RETRY_S = 0.5
LAYER_RETRY_MAX_S = 5.0
# The database is locked, timed out or its connection dropped: storing again may work.
RETRYABLE = (OperationalError, InterfaceError)
# Close codes for the caller's socket. Daphne's WebSocket layer (autobahn) refuses to send any
# code but 1000 and 3000-4999: a 1011 raises there and the socket is never closed (dead air).
CLOSE_NORMAL = 1000
CLOSE_UPSTREAM_FAILED = 4011  # 1011 ("internal error") moved into the application range
# The hand-over number must be stored before the socket closes, but not at any cost: past this
# the caller is let go rather than kept in silence.
TRANSFER_WRITE_S = 0.8
# Text frames after the first (metadata) are not part of the stream protocol we use: the first
# few are kept as events for whoever debugs a call, the rest only counted.
STORED_TEXT_FRAMES = 5
MAX_TEXT_FRAME = 16 * 1024


class StreamConsumer(AsyncWebsocketConsumer):
    bridge: CallBridge | None = None
    call_id: str = ""
    _renewing: asyncio.Task[None] | None = None

    def __init__(self, records: CallRecords, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = records  # where the call's setup comes from and its reports go

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' own loop (await_many_dispatch) makes a task and an asyncio.wait for every
        message it reads: at 50 audio frames a second per call, about half of a frame's cost
        in an echo measurement (issue #10). Here the socket is read with one await per
        message, and the channel layer (a few status callbacks in a call) by a task of its own
        that survives Redis failing to answer; both still handle one message at a time."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self._one_at_a_time = asyncio.Lock()
        listening = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            listening = asyncio.create_task(self._listen(), name="channel-layer")
        try:
            while True:
                message = await receive()
                async with self._one_at_a_time:
                    if message.get("bytes") is not None and self.bridge is not None:
                        await self.bridge.feed(message["bytes"])  # a caller frame: 50 a second
                    else:
                        await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            self._stop_renewing()
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening

    async def _listen(self) -> None:
        """Messages from other processes (status callbacks, events). Redis failing to answer
        must not end the call: the call goes on and the reading is tried again."""
        delay = LAYER_RETRY_S
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except Exception as e:
                log.warning("call %s: channel layer: %r; again in %.1f s", self.call_id, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAYER_RETRY_MAX_S)
                if self.call_id:  # Redis may be back, restarted without our group
                    self._spawn(self._join_group())
                continue
            delay = LAYER_RETRY_S
            async with self._one_at_a_time:
                try:
                    await self.dispatch(message)
                except Exception:
                    log.exception("call %s: could not handle %s", self.call_id,
                                  message.get("type"))  # fmt: skip

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch hops to the database thread before every message to close
        # stale connections; 50 audio frames a second per call would queue behind webhooks
        # there. Nothing here touches the database but through self.records, whose helpers
        # (database_sync_to_async) clean up connections themselves.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        with LIVE.arriving():  # a drain beginning now waits for this call too
            await self._connect()

    async def _connect(self) -> None:
        # Refusing before accept() answers the handshake with 403; nothing opens upstream.
        if SUBPROTOCOL not in self.scope.get("subprotocols", []):
            await self._refuse("stream_subprotocol")
            return
        call_id = self.scope["url_route"]["kwargs"]["call_id"]
        if not await self.authorised(call_id):
            await self._refuse("stream_token")
            return
        setup = await self.records.claim_call(call_id)
        if setup is None:
            await self._refuse("stream_not_expected")  # unknown, over, or already streaming
            return
        self.call_id = call_id
        self._call_pk = setup.pk
        self._finishing: asyncio.Task[None] | None = None
        self._have_metadata = False
        self._text_frames = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._turn_rows: dict[str, Any] = {}  # the records' own, kept between batches
        self._reports = ReportWriter(self._store, RETRYABLE, name=f"call {call_id}")
        await self.accept(subprotocol=SUBPROTOCOL)
        await self._join_group()
        self._renewing = asyncio.create_task(self._keep_joined(), name="keep-joined")
        agent = setup.agent
        self._recorder = Recorder(agent.sample_rate) if agent.record_calls else None
        self.bridge = self._bridge(setup, call_id)
        ending = LIVE.add(self)
        metrics.LIVE_CALLS.inc()
        metrics.CALLS_STARTED.inc()
        metrics.watch_inbound_lag(LIVE)
        if ending:  # its set-up outlasted this process's drain
            await self.end_for_drain(ending)
        else:
            self._spawn(self._run(self.bridge))

    def _bridge(self, setup: CallSetup, call_id: str) -> CallBridge:
        """The agent's engine: OpenAI Realtime (turns), or GPT-Live (full duplex)."""
        parts = CallParts(setup.agent, self._send_audio, self._send_text, self._report,
                          setup.limits, setup.tools, self._recorder, call_id)  # fmt: skip
        return bridge_for(parts, setup.openai)

    async def authorised(self, call_id: str) -> bool:
        """Whether this socket may open the call's stream: Sautikit's signed token."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return check_token(call_id, (query.get("token") or [""])[0])

    async def _refuse(self, reason: str) -> None:
        metrics.CALLS_REFUSED.labels(reason).inc()
        await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            if self.bridge is not None:
                await self.bridge.feed(bytes_data)
        elif text_data is not None:
            await self._metadata(text_data)

    async def disconnect(self, code: int) -> None:
        if self.bridge is not None:
            await self.bridge.stop("caller hung up", ended_by=EndedBy.CALLER)
            await self._finish()
        self._stop_renewing()
        if self.call_id:
            with contextlib.suppress(Exception):  # Redis down: the group entry expires by itself
                await asyncio.wait_for(
                    self.channel_layer.group_discard(call_group(self.call_id), self.channel_name),
                    GROUP_JOIN_TIMEOUT_S,
                )

    async def _join_group(self) -> None:
        """Hear Sautikit's status callbacks for this call, from whichever process takes them.

        With Redis down the call goes on without them: it still ends when Sautikit closes the
        socket, or at its limits.
        """
        try:
            await asyncio.wait_for(
                self.channel_layer.group_add(call_group(self.call_id), self.channel_name),
                GROUP_JOIN_TIMEOUT_S,
            )
        except Exception as e:
            log.error("call %s: channel layer unavailable, status callbacks will not reach "
                      "it: %r", self.call_id, e)  # fmt: skip

    def _stop_renewing(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            self._renewing = None

    async def _keep_joined(self) -> None:
        """Join again every CHANNEL_GROUP_RENEW_S (one small write): a restarted Redis has lost
        the group, and the call would no longer hear its status callbacks."""
        while True:
            await asyncio.sleep(max(settings.CHANNEL_GROUP_RENEW_S, 1))
            await self._join_group()

    # -- messages from other processes (the status callback's channel-layer group) -----------

    def _for_me(self, message: dict[str, Any]) -> bool:
        """A group message acts only on the call it names: a bridge never ends another call,
        whatever group a message reached it through."""
        if message.get("call_id") == self.call_id:
            return True
        log.warning("call %s: ignored a %s for call %r", self.call_id, message.get("type"),
                    str(message.get("call_id"))[:80])  # fmt: skip
        return False

    async def stream_status(self, message: dict[str, Any]) -> None:
        if not self._for_me(message):
            return
        if state_key(message.get("state", "")) in ENDING_STATES and self.bridge is not None:
            await self.bridge.stop(f"Sautikit: {message['state']}", ended_by=EndedBy.CALLER)
            await self._finish(close=True)

    async def call_ended(self, message: dict[str, Any]) -> None:
        if self._for_me(message) and self.bridge is not None:
            kind = message.get("kind", "call ended")
            ended_by = EndedBy.ERROR if kind == "call.failed" else EndedBy.CALLER
            await self.bridge.stop(f"Sautikit: {kind}", ended_by=ended_by)
            await self._finish(close=True)

    async def said_over(self, state: str) -> None:
        """The database says Sautikit ended this call, and its message through the channel
        layer did not arrive (Redis restarted or stalled): end as that message would have."""
        async with self._one_at_a_time:
            if state_key(state) in ENDING_STATES:
                await self.stream_status({"call_id": self.call_id, "state": state})
            else:
                await self.call_ended({"call_id": self.call_id, "kind": state})

    async def end_for_drain(self, reason: str) -> None:
        """This process is stopping and the call outlasted the drain limit: end it cleanly,
        handing the caller over to the agent's fallback number if it has one."""
        if self.bridge is not None:
            await self.bridge.stop(reason, ended_by=EndedBy.LIMIT, hand_over=True)
            await self._finish(close=True)

    # -- the bridge's life ----------------------------------------------------------------

    async def _run(self, bridge: CallBridge) -> None:
        try:
            await bridge.start()
        except Exception as e:
            # Whatever went wrong upstream, the caller must not be left in dead air.
            reason = str(e) if isinstance(e, UpstreamError) else f"OpenAI session failed: {e!r}"
            log.warning("call %s: %s", self.call_id, reason)
            await bridge.stop(f"OpenAI unavailable: {reason}", failed=True)
            await self._finish(close=True, error=reason)
            return
        await bridge.wait_ended()
        await self._finish(close=True)

    async def _finish(self, close: bool = False, error: str = "") -> None:
        """Record how the call ended (once) and close the caller's socket if asked.

        Whoever comes second (the hang-up racing the bridge's own end) waits for the first to
        be done: the consumer must not exit while the end is still being written.
        """
        if self.bridge is None:
            return
        if self._finishing is None:
            # Called after the bridge's stop: its result is final.
            result = self.bridge.result()
            self._finishing = asyncio.create_task(self._write_end(result, close, error))
        await asyncio.shield(self._finishing)

    async def _write_end(self, result: CallEnd, close: bool, error: str) -> None:
        try:
            await self._record_end(result, close, error)
        finally:
            LIVE.discard(self)  # a draining process waits for the record, not just the socket
            self._count_end(result)

    def _count_end(self, result: CallEnd) -> None:
        metrics.LIVE_CALLS.dec()
        metrics.CALLS_ENDED.labels(result.ending.ended_by or "unknown").inc()
        if result.ending.failed:
            metrics.UPSTREAM_ERRORS.inc()
        metrics.PLAYOUT_UNDERRUNS.inc(result.playout_underruns)

    async def _record_end(self, result: CallEnd, close: bool, error: str) -> None:
        ending = result.ending
        if not error and ending.failed:
            error = ending.reason
        if close:
            # The caller first: nothing below (a slow database included) may keep them on a
            # line with no agent. A handed-over call's number is stored before the socket
            # closes, since closing it makes Sautikit ask the voice URL what to do next.
            if ending.transfer_to:
                await self._keep_transfer(ending.transfer_to)
            failed = bool(error) and not ending.transfer_to
            await self.close(code=CLOSE_UPSTREAM_FAILED if failed else CLOSE_NORMAL)
        summary = {
            "frames_written": result.frames_written,
            "playout_underruns": result.playout_underruns,
            "barge_ins": result.barge_ins,
            "turns": result.responses,  # stored under this name since the first calls
            "text_frames": self._text_frames,
            "caller_audio_dropped_s": round(result.caller_audio_dropped_s, 3),
        }
        # After everything reported so far, in order: a call marked over is complete.
        end = {"reason": ending.reason, "error": error, "summary": summary,
               "ended_by": ending.ended_by, "transfer_to": ending.transfer_to}  # fmt: skip
        self._report("end", end)
        if self._recorder is not None:
            await self._keep_recording(self._recorder)
        if not await self._reports.close(DRAIN_TIMEOUT_S):
            log.warning("call %s: the database is slow; its record is completed in the "
                        "background", self.call_id)  # fmt: skip

    async def _keep_transfer(self, number: str) -> None:
        try:
            transfer = self.records.keep_transfer(self.call_id, number)
            await asyncio.wait_for(transfer, TRANSFER_WRITE_S)
        except Exception:
            log.exception("call %s: could not store the hand-over to %s", self.call_id, number)

    async def _keep_recording(self, recorder: Recorder) -> None:
        try:
            name = await asyncio.to_thread(self.records.store_recording, self.call_id, recorder)
            self._report("recording", {"name": name})
        except Exception:
            log.exception("call %s: could not keep its recording", self.call_id)
        finally:
            recorder.close()

    async def _metadata(self, text: str) -> None:
        self._text_frames += 1
        if self._text_frames > 1 + STORED_TEXT_FRAMES or len(text) > MAX_TEXT_FRAME:
            return  # counted (metadata.bridge.text_frames), not stored: anyone can send these
        try:
            data = strict_json.loads(text)
        except ValueError:
            return  # not JSON we can store: nothing we understand
        if not isinstance(data, dict) or data.get("type") == "mark":
            return
        data = strip_nul(data)  # as a webhook's: what the database cannot hold, never a lost row
        # Database writes never hold up the audio: the consumer handles one message at a time.
        if self._have_metadata:
            self._report("stream text", data)
            return
        self._have_metadata = True
        headers = data.get("headers")
        if isinstance(headers, str):
            with contextlib.suppress(ValueError):
                data["headers"] = strict_json.loads(headers)
        self._report("metadata", data)

    async def _send_audio(self, pcm: bytes) -> None:
        await self.base_send({"type": "websocket.send", "bytes": pcm})

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def _report(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == TURN and isinstance(payload.get("latency_ms"), int):
            metrics.ANSWER_TIME.observe(payload["latency_ms"] / 1000)
        self._reports.put(kind, payload)

    async def _store(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        await self.records.apply_reports(self._call_pk, batch, self._turn_rows)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
