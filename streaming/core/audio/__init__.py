"""What a call sounds like on its way through: PCM and resamplers, the caller's audio up (at real
time at most, held while OpenAI connects), paced playout down, the recording, the call's clock."""
