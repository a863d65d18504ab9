"""What a number is in a data file: ASCII digits only. Python's int() and float() also
accept '1_000' and non-ASCII digits ('١٢'), which in data are typos or corruption."""
from __future__ import annotations

import re

ID_LIMIT = 2**31      # ids are int32 on the device
_ID = re.compile(r"-?[0-9]+\Z")
_NUMBER = re.compile(r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*\Z")
_SPECIAL = re.compile(r"[ \t]*[+-]?(nan|inf|infinity)[ \t]*\Z", re.IGNORECASE)


def is_id(text: str) -> bool:
    """An integer in ASCII digits (negative ones are refused by the range check)."""
    return bool(_ID.match(text))


def is_number(text: str) -> bool:
    """A decimal number in ASCII digits (optional sign, point and exponent), or nan/inf
    (which callers refuse with their own message)."""
    return bool(_NUMBER.match(text) or _SPECIAL.match(text))
