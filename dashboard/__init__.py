"""The Streamlit operations dashboard for providers, admins and finance staff."""
