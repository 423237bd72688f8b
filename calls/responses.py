"""The XML answers Sautikit's voice callback expects."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.http import HttpResponse

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
STATUS_EVENTS = "stream-started stream-stopped stream-error"

UNKNOWN_NUMBER = "Sorry, this number is not in service. Goodbye."
INACTIVE_AGENT = "Sorry, this line is not taking calls right now. Please try again later. Goodbye."
LINES_BUSY = "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."


def _xml(root: ET.Element) -> HttpResponse:
    body = DECLARATION + ET.tostring(root, encoding="unicode")
    return HttpResponse(body, content_type="application/xml")


def empty() -> HttpResponse:
    """Acknowledge a lifecycle callback without forking another stream."""
    return _xml(ET.Element("Response"))


def say_and_hangup(sentence: str) -> HttpResponse:
    root = ET.Element("Response")
    ET.SubElement(root, "Say").text = sentence
    ET.SubElement(root, "Hangup")
    return _xml(root)


def reject() -> HttpResponse:
    """Refuse the call before it is answered: the caller hears the network's rejection."""
    root = ET.Element("Response")
    ET.SubElement(root, "Reject", {"reason": "rejected"})
    return _xml(root)


def dial(number: str) -> HttpResponse:
    """Put the caller through to `number` (Sautikit's <Dial>, as Africa's Talking spells it)."""
    root = ET.Element("Response")
    ET.SubElement(root, "Dial", {"phoneNumbers": number})
    return _xml(root)


def stream(*, name: str, url: str, track: str, sample_rate: int, status_url: str) -> HttpResponse:
    root = ET.Element("Response")
    ET.SubElement(
        root,
        "Stream",
        {
            "name": name,
            "url": url,
            "track": track,
            # Without connect="true" Sautikit hangs up within a second (stream-driven calls).
            "connect": "true",
            "outputSamplingRate": str(sample_rate),
            # Playback of what we send back is undefined unless this is given.
            "bidirectionalSamplingRate": str(sample_rate),
            "statusCallback": status_url,
            "statusEvents": STATUS_EVENTS,
        },
    )
    return _xml(root)
