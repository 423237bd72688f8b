"""The caller's leg: the WebSocket Sautikit's <Stream> opens (FreeSWITCH mod_audio_fork).

Binary frames carry S16LE mono PCM at the call's rate both ways; text frames carry JSON. Only
what more than one side of the project needs is named here (see docs/protocols.md).
"""

from __future__ import annotations

SUBPROTOCOL = "audio.drachtio.org"
# Drops what the media server still buffers for the caller (barge-in).
KILL_AUDIO = '{"type":"killAudio"}'
