"""aiozk's ``aiozk.protocol.response`` module: its records, defined in ``aiozk.protocol``."""

from . import Response, response_xref

__all__ = ['Response', 'response_xref']
