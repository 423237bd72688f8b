"""The README's promise: with no OPENAI_API_KEY, `make run`'s first calls work, their summaries
included. Through a real daphne process and the stand-ins, as `make run` starts them, with no
key anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from agents.models import Agent
from calls.aftercall.models import AfterCallTask
from calls.models import AfterCall, Call
from tests.live_stack import start_stack, wait_until

NUMBER = "+254711000900"


@pytest.mark.django_db(transaction=True)
def test_it_summarises_a_call_with_no_key_as_make_run_does(tmp_path, admin_client):
    Agent(name="Desk", phone_number=NUMBER, instructions="Help.", greeting="Greet.").save()
    stack = start_stack(env={"OPENAI_API_KEY": "", "AFTER_CALL_POLL_S": "0.2"}, fake_args=[])
    try:
        # The README's command, in a terminal where PORT is the one the server was given.
        port = str(urlsplit(stack.base_url).port)
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "OPENAI_API_KEY")}
        said = subprocess.run(
            [sys.executable, "manage.py", "simulate_call", "--number", NUMBER,
             "--out", str(tmp_path / "call.wav"), "--tail", "1"],
            env={**env, "PORT": port}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert said.returncode == 0, said.stderr
        steps = said.stdout.splitlines()
        # Each step as it happens, in order, then the report.
        expected = ["through http://127.0.0.1:" + port, "the voice webhook answered",
                    "the stream is open", "s  the agent speaks", "s  the caller speaks",
                    "s  the caller hangs up", "telling the server the call has ended"]  # fmt: skip
        at = [next((i for i, line in enumerate(steps) if text in line), -1) for text in expected]
        assert -1 not in at, said.stdout
        assert at == sorted(at), said.stdout
        call = Call.objects.get()

        def summarised() -> bool:
            return Call.objects.get(pk=call.pk).analysis == AfterCall.DONE

        assert wait_until(summarised, 30), AfterCallTask.objects.get().last_error
    finally:
        stack.stop()
        stack.tmp.cleanup()
    call = Call.objects.get(pk=call.pk)
    page = admin_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    assert call.summary and call.summary in page
