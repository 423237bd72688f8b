from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from agents.models import Agent

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
    assert agent.turn_detection_config() == {
        "type": "server_vad",
        "threshold": 0.7,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
        "create_response": True,
        "interrupt_response": True,
    }
    agent.turn_detection = "semantic_vad"
    agent.eagerness = "low"
    assert agent.turn_detection_config() == {
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
