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


def md(text: object) -> str:
    """`text` as markdown that renders exactly as the characters it holds."""
    escaped = _SPECIAL.sub(r"\\\1", str(text))
    # Line breaks stay line breaks; nothing else of the layout comes from the text.
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")
