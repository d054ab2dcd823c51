"""aiozk's ``aiozk.protocol.transaction`` module: its records, defined in ``aiozk.protocol``."""

from . import TransactionRequest, TransactionResponse

__all__ = ['TransactionRequest', 'TransactionResponse']
