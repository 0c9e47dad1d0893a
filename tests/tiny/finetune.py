"""The Fine-tune task's tiny base: the tiny chat model (it trains whatever chat model is chosen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny import builder


@builder("finetune")
def build_finetune(out: Path) -> dict[str, Any]:
    from tiny.language import build_chat

    return build_chat(out)
