"""G.711 μ-law and A-law (ITU-T G.711), to and from S16LE: what GPT-Live takes at 8 kHz
(`audio/pcmu`, `audio/pcma`). Plain numpy over whole frames; no audioop (gone in Python 3.13)."""

from __future__ import annotations

import numpy as np

MU_BIAS = 0x84
MU_CLIP = 32635


def ulaw_encode(pcm: bytes) -> bytes:
    # On 14 bits, as the ITU reference does (an arithmetic shift: negatives round down).
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2
    negative = x < 0
    magnitude = np.minimum(np.where(negative, -x, x), MU_CLIP >> 2) + (MU_BIAS >> 2)
    seg = np.clip(np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 5, 0, 7)
    code = (seg << 4) | ((magnitude >> (seg + 1)) & 0x0F)
    out: np.ndarray = code ^ np.where(negative, 0x7F, 0xFF)
    return out.astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    seg = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + MU_BIAS) << seg
    x = np.where(u & 0x80, MU_BIAS - magnitude, magnitude - MU_BIAS)
    return x.astype("<i2").tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3  # 13-bit
    sign = np.where(x >= 0, 0x80, 0)
    magnitude = np.minimum(np.where(x >= 0, x, -x - 1), 0x0FFF)
    seg = np.clip(np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4, 0, 7)
    mantissa = np.where(seg == 0, magnitude >> 1, magnitude >> seg) & 0x0F
    out: np.ndarray = (sign | (seg << 4) | mantissa) ^ 0x55
    return out.astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> bytes:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(seg == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (seg - 1))
    x = np.where(a & 0x80, magnitude, -magnitude)
    return x.astype("<i2").tobytes()


ENCODE = {"audio/pcmu": ulaw_encode, "audio/pcma": alaw_encode}
DECODE = {"audio/pcmu": ulaw_decode, "audio/pcma": alaw_decode}
