"""The dashboard as it is served: `streamlit run dashboard/server.py`.

The Streamlit app (streamlit_app.py) with the session routes beside it, which set and
clear the HttpOnly session cookie that a page's script cannot (dashboard/session_routes.py).
`streamlit run` finds `app` and serves it with uvicorn. AppTest runs streamlit_app.py
directly, without these routes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.session_routes import ROUTES  # noqa: E402

app = st.App("streamlit_app.py", routes=ROUTES)
