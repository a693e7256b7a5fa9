"""One way to turn free text (run ids, job ids, branch names, label values) into a safe name
for an object key, a path segment or a warehouse label."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=32)
def _unsafe(keep: str, ascii_only: bool, collapse: bool) -> re.Pattern[str]:
    letters = "A-Za-z0-9_" if ascii_only else r"\w"  # "_" is always kept
    return re.compile(f"[^{letters}{re.escape(keep)}]" + ("+" if collapse else ""))


def safe_name(
    text: str,
    keep: str = "-.",
    replacement: str = "_",
    *,
    ascii_only: bool = False,
    collapse: bool = False,
    max_length: int | None = None,
) -> str:
    """`text` with every character that is not a letter, a digit, "_" or in `keep` replaced.

    `ascii_only` allows only A-Z, a-z and 0-9 as letters (otherwise any Unicode letter, so a
    Japanese run note stays readable); `collapse` turns a run of unsafe characters into one
    replacement; `max_length` cuts the result.
    """
    out = _unsafe(keep, ascii_only, collapse).sub(replacement, text)
    return out[:max_length] if max_length is not None else out
