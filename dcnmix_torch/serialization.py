"""Reading torch files safely: `torch.load(weights_only=True)` (no pickle code runs) with its
failure said in one line."""
from __future__ import annotations

import torch


class UnsafeOrCorruptFile(ValueError):
    """A torch file the safe loader cannot read (corrupt, or holding arbitrary objects)."""


def safe_load(source):
    """torch.load(source, map_location='cpu', weights_only=True); failure is one ValueError
    line. torch's weights-only message is a paragraph that suggests weights_only=False
    (running the file's code): only its cause is kept."""
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UnsafeOrCorruptFile(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Weights only load failed"):
        return lines[0] if lines else type(exc).__name__
    causes = [line for line in lines[1:] if line != "WeightsUnpickler error:"
              and not line.startswith(("Check the documentation", "Please file"))]
    cause = causes[0].removeprefix("WeightsUnpickler error: ") if causes else "unsupported content"
    return f"the safe loader refused it, no code from the file ran: {cause}"
