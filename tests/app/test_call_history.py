"""The call list as a manager uses it: what was said is searchable, and the list as filtered
downloads as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from calls.models import Call, Status, Turn

pytestmark = pytest.mark.django_db

LIST = "admin:calls_call_changelist"
EXPORT = "admin:calls_call_export"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("manager", password="pw-manager-1"))
    return client


@pytest.fixture
def calls(agent):
    booked = Call.objects.create(
        call_id="C-booked", agent=agent, caller_number="+254700000001",
        dialled_number=agent.phone_number, status=Status.COMPLETED, duration_seconds=95,
        started_at=datetime(2026, 11, 25, 6, 30, tzinfo=UTC), end_reason="caller hung up",
    )  # fmt: skip
    Turn.objects.create(call=booked, role="caller", item_id="i1", started_ms=0,
                        text="I need an appointment for my daughter on Tuesday")  # fmt: skip
    Turn.objects.create(call=booked, role="agent", item_id="i2", started_ms=3000, latency_ms=420,
                        text="Tuesday at ten is free.")  # fmt: skip
    hostile = Call.objects.create(
        call_id="C-other", agent=agent, caller_number="=HYPERLINK(\"http://x\")",
        dialled_number=agent.phone_number, status=Status.FAILED,
    )  # fmt: skip
    Turn.objects.create(call=hostile, role="caller", item_id="i3", started_ms=0,
                        text="Where is the pharmacy?")  # fmt: skip
    return booked, hostile


def listed(response) -> list[str]:
    return [call.call_id for call in response.context["cl"].result_list]


def test_it_finds_calls_by_what_was_said(staff, calls):
    assert listed(staff.get(reverse(LIST), {"q": "appointment"})) == ["C-booked"]
    assert listed(staff.get(reverse(LIST), {"q": "pharmacy"})) == ["C-other"]
    assert listed(staff.get(reverse(LIST), {"q": "elephant"})) == []
    # Ids and numbers are still found as before.
    assert listed(staff.get(reverse(LIST), {"q": "0700 000 001"})) == ["C-booked"]


def test_it_downloads_the_list_as_filtered_as_csv(staff, calls):
    page = staff.get(reverse(LIST), {"status__exact": "completed"}).content.decode()
    assert f"{reverse(EXPORT)}?status__exact=completed" in page
    response = staff.get(reverse(EXPORT), {"status__exact": "completed"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    [row] = rows
    assert row["call id"] == "C-booked"
    assert row["started"] == "2026-11-25 09:30:00"  # in the operators' time zone (Nairobi)
    assert (row["agent"], row["status"], row["duration (s)"]) == ("Clinic", "Completed", "95")
    assert row["answer time median (ms)"] == "420"


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(staff, calls):
    response = staff.get(reverse(EXPORT), {"q": "pharmacy"})
    [row] = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["caller"] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("+254712345678", "+254712345678"),  # a phone number: no formula in it
        ("-3.5", "-3.5"),
        ("+254 712", "'+254 712"),
        ("-1+2", "'-1+2"),
        ("+A1", "'+A1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("=1", "'=1"),
        ("\t1", "'\t1"),
        ("0712345678", "0712345678"),
    ],
)
def test_only_cells_that_could_run_are_marked_as_text(value, written):
    from calls.history import _cell

    assert _cell(value) == written


def test_only_those_who_may_see_calls_download_them(client, calls):
    assert client.get(reverse(EXPORT)).status_code == 302  # to the login page
    clerk = User.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse(EXPORT)).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_call"))
    assert client.get(reverse(EXPORT)).status_code == 200


def test_filters_it_does_not_know_get_a_clear_answer(staff, calls):
    response = staff.get(reverse(EXPORT), {"no_such_field": "1"})
    assert response.status_code == 400
    assert b"not understood" in response.content
