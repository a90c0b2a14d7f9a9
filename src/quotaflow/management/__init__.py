"""The management API: virtual keys, teams, users and spend, LiteLLM-compatible JSON.

``routes`` is the one table of management routes (the server's route table and the OpenAPI
document both read it); ``keys_api``, ``teams_api``, ``users_api`` and ``spend_api`` are thin
handlers over ``Registry`` (the store plus the key cache and its invalidations); ``gate`` is
what virtual keys do on the model-call path; ``wiring`` builds it all for ``create_app``.
Handlers read and write only through ``Registry``; the database is never touched inside a
model call. Must not import ``app``.
"""
