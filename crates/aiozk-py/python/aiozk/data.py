"""Node data and ACL arguments as the client and transactions take them."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from .protocol.acl import ACL

Data = Union[bytes, bytearray, memoryview, str, None]
AclArg = Union[ACL, Sequence[ACL], None]


def encode_data(data: Data) -> Optional[bytes]:
    """Node data for the wire: None stays None (null data, as aiozk sends it)."""
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode('utf-8')
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f'node data must be bytes or str, not {type(data).__name__}')
