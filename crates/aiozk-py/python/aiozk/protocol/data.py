"""aiozk's ``aiozk.protocol.data`` module: its records, defined in ``aiozk.protocol``."""

from . import GetDataRequest, GetDataResponse, SetDataRequest, SetDataResponse

__all__ = ['GetDataRequest', 'GetDataResponse', 'SetDataRequest', 'SetDataResponse']
