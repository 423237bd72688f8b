"""The README's promise, in-process: with no OPENAI_API_KEY and OpenAI's own address, a
call's summary gives up at once and says why. `make run`'s first calls through a real daphne
process and the stand-ins, summaries included: tests/server/test_without_a_key.py."""

from __future__ import annotations

import pytest

from calls.aftercall import analysis
from calls.aftercall.models import AfterCallTask, TaskKind
from calls.aftercall.runner import run_due
from calls.models import AfterCall, Call
from tests.helpers import finished_call


@pytest.mark.django_db
def test_it_gives_up_at_once_without_a_key_for_openai_itself(agent, settings):
    """No key and OpenAI's own address: no hours of retries, and a sentence saying why."""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = analysis.OPENAI_URL
    call = finished_call(agent)
    run_due()
    task = AfterCallTask.objects.get(call=call, kind=TaskKind.ANALYSIS)
    assert task.last_error == analysis.NO_KEY
    assert Call.objects.get(pk=call.pk).analysis == AfterCall.FAILED
