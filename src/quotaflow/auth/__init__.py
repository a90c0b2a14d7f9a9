"""Who is calling: credentials from request headers → a ``Principal``.

Must not import the server, the router or providers.
"""

from quotaflow.auth.authenticator import Authenticator, Principal

__all__ = ["Authenticator", "Principal"]
