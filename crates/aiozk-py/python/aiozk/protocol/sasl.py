"""aiozk's ``aiozk.protocol.sasl`` module: its records, defined in ``aiozk.protocol``."""

from . import SASLRequest, SASLResponse

__all__ = ['SASLRequest', 'SASLResponse']
