"""Translations for non-OpenAI client protocols; pure, no I/O.

Each module turns one client protocol's request into an OpenAI chat-completions payload, and the
OpenAI answer (whole, or as ``chat.completion.chunk`` bytes) back into that protocol, so any model
group can serve it. The HTTP handlers live in ``quotaflow.server``.
"""
