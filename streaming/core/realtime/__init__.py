"""OpenAI Realtime, the engine that takes turns: its client (the only module that writes Realtime
messages), its bridge, the answers being heard, the transcript, and a voice sample."""
