"""Who is calling: credentials from request headers → a ``Principal``.

Keys are minted and hashed in ``keys``; ``KeyCache`` holds every key, team and user with a
principal ready per key; ``key_sync.KeySync`` keeps it current across replicas through
``Invalidations`` (it imports the store, so it is not re-exported here).
Must not import the server, the router, limits or providers.
"""

from quotaflow.auth.authenticator import Authenticator
from quotaflow.auth.invalidations import Change, Invalidations, MemoryInvalidations
from quotaflow.auth.key_cache import KeyCache, build_principal
from quotaflow.auth.keys import MasterKey, display_key, hash_key, is_key_hash, mint_key
from quotaflow.auth.principal import Principal

__all__ = [
    "Authenticator",
    "Change",
    "Invalidations",
    "KeyCache",
    "MasterKey",
    "MemoryInvalidations",
    "Principal",
    "build_principal",
    "display_key",
    "hash_key",
    "is_key_hash",
    "mint_key",
]
