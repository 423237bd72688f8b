"""JSON as strangers send it: refuse what Python's parser accepts but nothing else should.

Python reads NaN and Infinity (which JSON has not, and databases refuse) and raises
RecursionError, not ValueError, on deep nesting. Here every such body is a ValueError whose
message says what was wrong, fit to send back.
"""

from __future__ import annotations

import json
from typing import Any

# Sautikit's bodies are flat or one level deep; far deeper nesting is an attack on the parser.
MAX_DEPTH = 16


def loads(raw: str | bytes) -> Any:
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise ValueError("malformed JSON body") from None
    except _Constant as e:
        raise ValueError(str(e)) from None
    except ValueError:
        raise ValueError("malformed JSON body") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


class _Constant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON number: send numbers, or null")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest, counted without recursion (and only up to the cap)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level + 1) for child in children)
    return deepest
