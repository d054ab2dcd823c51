"""``WatchEvent``: a watch notification (``type``, ``state``, ``path``, ``zxid``) and its
constants."""

from __future__ import annotations

from typing import Any

from .part import Part

WATCH_XID = -1


class WatchEvent(Part):
    """A watch notification.

    ``type`` is one of ``CREATED``, ``DELETED``, ``DATA_CHANGED``, ``CHILDREN_CHANGED``
    (and, for persistent watches, ``DATA_WATCH_REMOVED``, ``CHILD_WATCH_REMOVED``,
    ``PERSISTENT_WATCH_REMOVED``); ``state`` the session state code; ``path`` the node;
    ``zxid`` the zxid of the change that fired it, which ZooKeeper sends from 3.9 on
    (ZOOKEEPER-4655), None before. Events of persistent watches also say how they came
    about: ``catch_up`` for a change made while the client was disconnected, reported once
    it is back; ``resync`` (type ``NONE``) when changes at or below ``path`` may have been
    missed; ``new_session`` (type ``NONE``) when the watch was added again on a new session.
    """

    NONE = -1
    CREATED = 1
    DELETED = 2
    DATA_CHANGED = 3
    CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7

    DISCONNECTED = 0
    CONNECTED = 3
    AUTH_FAILED = 4
    CONNECTED_READ_ONLY = 5
    SASL_AUTHENTICATED = 6
    SESSION_EXPIRED = -112

    parts = (
        ('type', int),
        ('state', int),
        ('path', str),
        ('zxid', int),
        ('catch_up', bool),
        ('resync', bool),
        ('new_session', bool),
    )


# aiozk defines these records in this module; here they live in ``aiozk.protocol``, which
# imports this module first, so they are looked up when asked for.
_RECORDS = ('SetWatchesRequest', 'SetWatchesResponse', 'CheckWatchesRequest', 'CheckWatchesResponse', 'RemoveWatchesRequest', 'RemoveWatchesResponse',)


def __getattr__(name: str) -> Any:
    if name in _RECORDS:
        from .. import protocol

        return getattr(protocol, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
