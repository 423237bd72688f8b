"""What both engines share: the bridge interface (bridge.py), the call's life, its time limits,
hang-up and hand-over, tools and their schemas, the agent's settings, reports, the upstream
socket and the caller's stream protocol."""
