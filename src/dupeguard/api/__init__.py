"""The REST API (FastAPI): routers, auth, errors, rate limits, idempotency, request ids."""
