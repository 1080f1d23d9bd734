"""The FastAPI service that receives Stripe webhooks and serves the REST endpoints."""
