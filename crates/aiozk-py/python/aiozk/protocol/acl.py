"""ACLs: ``ACL`` (``perms`` and ``id``), ``ID`` (``scheme`` and ``id``) and the predefined ACLs."""

from __future__ import annotations

from typing import Any, List, Tuple

from .part import Part


class ID(Part):
    """Who an ACL entry is for: ``scheme`` (world, auth, digest, ip, sasl, x509) and ``id``."""

    parts = (('scheme', str), ('id', str))


class ACL(Part):
    """An ACL entry: ``perms`` (a bit mask) granted to ``id`` (an ``ID``).

    Build one with ``ACL.make(scheme, id, read=..., write=..., ...)``.
    """

    READ_PERM = 1 << 0
    WRITE_PERM = 1 << 1
    CREATE_PERM = 1 << 2
    DELETE_PERM = 1 << 3
    ADMIN_PERM = 1 << 4

    parts = (('perms', int), ('id', ID))

    @classmethod
    def make(
        cls,
        scheme: str,
        id: str,  # noqa: A002 - aiozk's name
        read: bool = False,
        write: bool = False,
        create: bool = False,
        delete: bool = False,
        admin: bool = False,
    ) -> 'ACL':
        """An ACL entry for ``scheme:id`` with the given permissions.

        For ``digest`` the id is ``user:BASE64(SHA1(user:password))``; see
        ``ACL.digest`` to build one from a password.
        """
        instance = cls(id=ID(scheme=scheme, id=id))
        instance.set_perms(read, write, create, delete, admin)
        return instance

    @classmethod
    def digest(cls, user: str, password: str, **perms: bool) -> 'ACL':
        """A ``digest`` entry for ``user`` with ``password`` (hashed here), e.g.
        ``ACL.digest('bob', 'secret', read=True, write=True)``."""
        from .._aiozk import digest_id

        return cls.make('digest', digest_id(user, password), **perms)

    def set_perms(self, read: bool, write: bool, create: bool, delete: bool, admin: bool) -> None:
        """Sets ``perms`` from the five flags."""
        perms = 0
        if read:
            perms |= self.READ_PERM
        if write:
            perms |= self.WRITE_PERM
        if create:
            perms |= self.CREATE_PERM
        if delete:
            perms |= self.DELETE_PERM
        if admin:
            perms |= self.ADMIN_PERM
        self.perms = perms


def to_tuples(acl: Any) -> List[Tuple[int, str, str]]:
    """ACL entries (an ``ACL`` or a list of them) as ``(perms, scheme, id)`` tuples."""
    if isinstance(acl, ACL):
        acl = [acl]
    return [(int(a.perms), a.id.scheme, a.id.id) for a in acl]


def from_tuples(entries: List[Tuple[int, str, str]]) -> List[ACL]:
    """``ACL`` objects from ``(perms, scheme, id)`` tuples."""
    return [ACL(perms=p, id=ID(scheme=s, id=i)) for p, s, i in entries]


WORLD_READABLE = ACL.make(scheme='world', id='anyone', read=True)
AUTHED_UNRESTRICTED = ACL.make(scheme='auth', id='', read=True, write=True, create=True, delete=True, admin=True)
UNRESTRICTED_ACCESS = ACL.make(scheme='world', id='anyone', read=True, write=True, create=True, delete=True, admin=True)


# aiozk defines these records in this module; here they live in ``aiozk.protocol``, which
# imports this module first, so they are looked up when asked for.
_RECORDS = ('GetACLRequest', 'GetACLResponse', 'SetACLRequest', 'SetACLResponse',)


def __getattr__(name: str) -> Any:
    if name in _RECORDS:
        from .. import protocol

        return getattr(protocol, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
