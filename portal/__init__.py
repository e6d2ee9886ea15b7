"""The portal service: the web pages at the portal domain that make every emailed link work, and the code exchange
API for the agency's own portal. Starlette on uvicorn; it calls `models/` and `mail/`, never `tui/`."""
