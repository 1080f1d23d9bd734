"""Text that a customer, a provider, an admin or Stripe wrote, made safe for Streamlit's
markdown (captions, alerts, markdown and write): every markdown and HTML character is
escaped, so `[Click](http://evil.example)` shows as those characters, not as a link, and
`![x](...)` loads no image. Use it on every piece of such text placed in markdown; plain
`st.text`, tables and metrics need nothing."""

from __future__ import annotations

import re

# CommonMark lets any ASCII punctuation be escaped with a backslash; Streamlit adds colour
# and icon directives (`:red[...]`, `:material/x:`), emoji short codes and `$` for maths.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&\"'=/@])")


# Streamlit's markdown (remark-gfm) also turns bare addresses into links, and it finds
# them in the text once escapes are read, so no escape stops it: `www.evil.example`,
# `https://evil.example` and `ann@example.com` would be live links. A word joiner
# (U+2060, invisible, no line break) where each of those needs two characters side by
# side (after "@", between "www" and ".", between ":" and "//") keeps them as text.
_AUTOLINKED = re.compile(r"@|www(?=\.)|:(?=//)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md(text: object) -> str:
    """`text` as markdown that renders exactly as the characters it holds (with an
    invisible word joiner inside what would otherwise become a link)."""
    unlinked = _AUTOLINKED.sub(lambda found: found.group() + WORD_JOINER, str(text))
    escaped = _SPECIAL.sub(r"\\\1", unlinked)
    # Line breaks stay line breaks; nothing else of the layout comes from the text.
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")
