"""GPT-Live, the engine that listens while it speaks: its client (the only module that writes
GPT-Live messages), its bridge, and turns made from its two transcript streams."""
