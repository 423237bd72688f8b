"""Recordings: both sides on one clock in a stereo WAV, kept through Django's storage, and
deleted after the retention period."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from calls.models import Call
from streaming.core.audio.recording import MIX_CHUNK, Recorder
from streaming.devtools.signals import dominant_hz, snr_db, tone

RATE = 16000


def mixed(recorder: Recorder) -> np.ndarray:
    out = io.BytesIO()
    seconds = recorder.write_wav(out)
    out.seek(0)
    with wave.open(out) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(frames) == round(seconds * RATE)
    return frames.astype(np.float64)


def test_it_puts_the_caller_left_and_the_agent_right_on_one_clock():
    recorder = Recorder(RATE)
    caller = tone(300, 1000, RATE, amp=0.5)
    for i in range(0, len(caller), 640):  # the caller from 0.2 s, in 20 ms frames
        recorder.caller(caller[i : i + 640], 0.2 + i / 2 / RATE)
    agent = tone(1000, 500, RATE)
    for i in range(0, len(agent), 640):  # the agent from 1.5 s
        recorder.agent(agent[i : i + 640], 1.5 + i / 2 / RATE)
    frames = mixed(recorder)
    assert len(frames) == 2 * RATE  # to the end of the agent's last frame
    left, right = frames[:, 0], frames[:, 1]
    assert np.abs(left[: int(0.2 * RATE)]).max() == 0
    assert dominant_hz(left[int(0.3 * RATE) : int(1.1 * RATE)], RATE) == pytest.approx(300, abs=3)
    assert snr_db(left[int(0.3 * RATE) : int(1.1 * RATE)], RATE, 300) > 60
    assert np.abs(right[: int(1.5 * RATE)]).max() == 0
    assert snr_db(right[int(1.55 * RATE) : int(1.95 * RATE)], RATE, 1000) > 60
    assert np.abs(left[int(1.2 * RATE) :]).max() == 0


def test_a_barge_in_cuts_what_was_written_but_never_heard():
    recorder = Recorder(RATE)
    answer = tone(1000, 600, RATE)
    for i in range(0, len(answer), 640):
        recorder.agent(answer[i : i + 640], i / 2 / RATE)
    recorder.cut_agent(0.5)  # killAudio: the last 100 ms were still buffered
    recorder.caller(bytes(2 * RATE), 0.0)
    right = mixed(recorder)[:, 1]
    assert snr_db(right[: int(0.5 * RATE)], RATE, 1000) > 60  # heard, intact
    assert np.abs(right[int(0.5 * RATE) :]).max() == 0


def test_it_mixes_calls_longer_than_one_chunk_and_than_memory_spooling():
    recorder = Recorder(RATE)
    seconds = 40  # 1.28 MB a side: spooled to disk, several mixing chunks
    ramp = (np.arange(seconds * RATE) % 30000).astype("<i2")
    recorder.caller(ramp.tobytes(), 0.0)
    recorder.agent((-ramp).astype("<i2").tobytes(), 0.0)
    assert seconds * RATE > 3 * MIX_CHUNK
    frames = mixed(recorder)
    assert np.array_equal(frames[:, 0], ramp)
    assert np.array_equal(frames[:, 1], -ramp.astype(np.float64))
    recorder.close()


# -- retention -----------------------------------------------------------------------------


@pytest.fixture
def recorded(agent, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RECORDING_RETENTION_DAYS = 30
    now = timezone.now()
    calls = {}
    for call_id, age_days in (("OLD", 31), ("NEW", 29)):
        call = Call.objects.create(call_id=call_id, agent=agent,
                                   started_at=now - timedelta(days=age_days))  # fmt: skip
        call.recording.save(f"{call_id}.wav", ContentFile(b"RIFF...."))
        calls[call_id] = call
    return calls


@pytest.mark.django_db
def test_it_deletes_recordings_past_the_retention_period_and_keeps_the_calls(recorded, tmp_path):
    old_file = tmp_path / recorded["OLD"].recording.name
    new_file = tmp_path / recorded["NEW"].recording.name
    out = io.StringIO()
    call_command("delete_expired_recordings", stdout=out)
    assert "deleted 1 recording(s) older than 30 days" in out.getvalue()
    assert not old_file.exists() and new_file.exists()
    old = Call.objects.get(call_id="OLD")
    assert not old.recording
    assert old.events.filter(kind="recording.deleted").exists()
    assert Call.objects.get(call_id="NEW").recording


@pytest.mark.django_db
def test_a_dry_run_deletes_nothing(recorded, tmp_path):
    out = io.StringIO()
    call_command("delete_expired_recordings", "--dry-run", stdout=out)
    assert "would delete 1 recording(s)" in out.getvalue()
    assert (tmp_path / recorded["OLD"].recording.name).exists()


@pytest.mark.django_db
def test_a_recording_file_already_gone_is_still_cleared(recorded, tmp_path):
    (tmp_path / recorded["OLD"].recording.name).unlink()
    call_command("delete_expired_recordings", stdout=io.StringIO())
    assert not Call.objects.get(call_id="OLD").recording
