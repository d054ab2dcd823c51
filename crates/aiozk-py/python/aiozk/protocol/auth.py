"""aiozk's ``aiozk.protocol.auth`` module: its records, defined in ``aiozk.protocol``."""

from . import AUTH_XID, AuthRequest, AuthResponse

__all__ = ['AUTH_XID', 'AuthRequest', 'AuthResponse']
