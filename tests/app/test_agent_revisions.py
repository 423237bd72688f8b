from __future__ import annotations

import dataclasses
import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from agents.field_groups import NOT_IN_A_CALL, REVISED_FIELDS
from agents.models import LIVE_FIELDS, Agent, Tool
from streaming.core.call.agent_settings import AgentSettings
from streaming.core.realtime.client import turn_detection

pytestmark = pytest.mark.django_db


def make_agent(**kwargs) -> Agent:
    agent = Agent(name="Clinic", phone_number="+254711000100", instructions="v1", **kwargs)
    agent.save()
    return agent


def test_it_keeps_a_first_revision_with_every_setting():
    agent = make_agent()
    [revision] = agent.revisions.all()
    assert revision.number == 1
    assert revision.author_name == "system"
    assert revision.snapshot["instructions"] == "v1"
    assert revision.snapshot["voice"] == "marin"
    assert revision.snapshot["sample_rate"] == 16000
    assert revision.changes["instructions"] == {"from": None, "to": "v1"}


def test_it_keeps_who_and_what_changed_on_each_save():
    agent = make_agent()
    editor = User.objects.create_user("wanjiru")
    agent.instructions = "v2"
    agent.voice = "cedar"
    agent.save(author=editor)
    revision = agent.current_revision
    assert revision.number == 2
    assert revision.author == editor
    assert revision.author_name == "wanjiru"
    assert revision.changes == {
        "instructions": {"from": "v1", "to": "v2"},
        "voice": {"from": "marin", "to": "cedar"},
    }
    assert revision.created_at is not None


def test_it_keeps_no_revision_when_nothing_changed():
    agent = make_agent()
    agent.save()
    assert agent.revisions.count() == 1


def test_it_keeps_the_author_name_when_the_user_is_deleted():
    agent = make_agent()
    editor = User.objects.create_user("otieno")
    agent.greeting = "Hi"
    agent.save(author=editor)
    editor.delete()
    revision = agent.current_revision
    revision.refresh_from_db()
    assert revision.author is None
    assert revision.author_name == "otieno"


def test_it_gives_the_realtime_turn_detection():
    agent = make_agent(vad_threshold=0.7, vad_silence_duration_ms=800)
    assert turn_detection(agent.current_revision.call_settings()) == {
        "type": "server_vad",
        "threshold": 0.7,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
        "create_response": True,
        "interrupt_response": True,
    }
    agent.turn_detection = "semantic_vad"
    agent.eagerness = "low"
    agent.save()
    assert turn_detection(agent.current_revision.call_settings()) == {
        "type": "semantic_vad",
        "eagerness": "low",
        "create_response": True,
        "interrupt_response": True,
    }


def test_it_reads_the_agent_secret_from_the_environment_only(monkeypatch):
    agent = make_agent(signing_secret_env="SAUTIKIT_SIGNING_SECRET_CLINIC")
    assert agent.signing_secret() == ""
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "s3")
    assert agent.signing_secret() == "s3"
    assert "s3" not in str(agent.current_revision.snapshot)


def test_a_call_keeps_the_tools_of_its_revision(settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    agent = make_agent()
    tool = Tool.objects.create(agent=agent, name="look_up", description="Looks up.",
                               endpoint="http://127.0.0.1:9/v1")  # fmt: skip
    with_tool = agent.current_revision
    assert with_tool.number == 2
    assert with_tool.changes["tools"]["from"] == []
    tool.endpoint = "http://127.0.0.1:9/v2"
    tool.save()
    tool.is_enabled = False
    tool.save()
    assert agent.current_revision.number == 4
    assert agent.current_revision.call_settings().tools == ()
    [kept] = with_tool.call_settings().tools
    assert (kept.name, kept.endpoint, kept.timeout_s) == ("look_up", "http://127.0.0.1:9/v1", 5.0)
    tool.delete()
    assert agent.current_revision.number == 4  # a switched-off tool was not offered anyway


def test_settings_added_after_a_revision_take_the_fields_defaults():
    agent = make_agent(voice="cedar")
    revision = agent.current_revision
    for name in ("silence_timeout_seconds", "fallback_number", "tools"):
        del revision.snapshot[name]
    call = revision.call_settings()
    assert call.voice == "cedar"
    assert call.silence_timeout_seconds == 60
    assert call.fallback_number == ""
    assert call.tools == ()


def test_revisions_saved_before_tools_were_versioned_get_the_agents_tools():
    agent = make_agent()
    Tool.objects.create(
        agent=agent, name="look_up", description="d", endpoint="https://a.example/t"
    )
    Tool.objects.create(agent=agent, name="off", description="d", endpoint="https://a.example/o",
                        is_enabled=False)  # fmt: skip
    for revision in agent.revisions.all():
        del revision.snapshot["tools"]
        revision.save()
    migration = importlib.import_module("agents.migrations.0005_tools_in_revisions")
    migration.tools_into_revisions(apps, None)
    for revision in agent.revisions.all():
        assert [t["name"] for t in revision.snapshot["tools"]] == ["look_up"]


def test_a_nudge_needs_pause_detection():
    agent = Agent(name="A", phone_number="+254711000100", instructions="x",
                  turn_detection="semantic_vad", idle_nudge_seconds=5)  # fmt: skip
    with pytest.raises(ValidationError) as e:
        agent.full_clean()
    assert "pause detection" in e.value.message_dict["idle_nudge_seconds"][0]
    agent.transcription_language = "Swahili"
    with pytest.raises(ValidationError) as e:
        agent.full_clean()
    assert "ISO 639-1" in e.value.message_dict["transcription_language"][0]


def test_it_keeps_every_setting_a_call_reads_and_nothing_else():
    # One list: the page's groups. A call's settings are those fields, less what no call reads.
    in_a_call = {f.name for f in dataclasses.fields(AgentSettings)} - {"tools"}
    assert in_a_call == set(REVISED_FIELDS) - NOT_IN_A_CALL
    assert set(REVISED_FIELDS) >= NOT_IN_A_CALL
    assert set(LIVE_FIELDS) <= set(REVISED_FIELDS)
    assert len(REVISED_FIELDS) == len(set(REVISED_FIELDS))  # each in one group only
    model_fields = {f.name for f in Agent._meta.get_fields()}
    assert set(REVISED_FIELDS) <= model_fields
