"""``Recipe``: the base of every recipe (aiozk's ``aiozk.recipes.recipe.Recipe``)."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional

from .. import exc


class Recipe:
    """A recipe on ``base_path``, bound to a client by ``set_client`` (which
    ``client.recipes.<Name>(...)`` calls).

    ``sub_recipes`` maps attribute names to recipe classes (or ``(class, [attribute names
    whose values are the constructor's arguments])``), instantiated by ``__init__``.
    """

    sub_recipes: ClassVar[Dict[str, Any]] = {}

    def __init__(self, base_path: str = '/') -> None:
        self.client: Any = None
        self.base_path = base_path
        for attr, spec in self.sub_recipes.items():
            if isinstance(spec, tuple):
                cls, names = spec
                setattr(self, attr, cls(*[getattr(self, n) for n in names]))
            else:
                setattr(self, attr, spec(self.base_path))

    def set_client(self, client: Any) -> None:
        """Binds the recipe (and its sub-recipes) to ``client``."""
        self.client = client
        for attr in self.sub_recipes:
            getattr(self, attr).set_client(client)

    @classmethod
    def validate_dependencies(cls) -> bool:
        """Kept for aiozk compatibility: always True."""
        return True

    async def ensure_path(self) -> None:
        """Creates ``base_path`` and its ancestors when missing."""
        await self.client.ensure_path(self.base_path)

    async def create_znode(self, path: str) -> None:
        """Creates ``path``, with missing ancestors; an existing node is fine."""
        try:
            await self.client.create(path)
        except exc.NodeExists:
            pass
        except exc.NoNode:
            await self.client.ensure_path(path)

    def _core(self) -> Any:
        if self.client is None:
            raise exc.InvalidClientState('the recipe has no client: use client.recipes or set_client()')
        return self.client._c()


class RustRecipe(Recipe):
    """A recipe backed by a Rust recipe object, built for the client's current session
    (again after the client was closed and started again)."""

    def __init__(self, base_path: str = '/') -> None:
        super().__init__(base_path)
        self._rust: Any = None
        self._rust_core: Optional[Any] = None

    def _build(self, core: Any) -> Any:
        raise NotImplementedError

    def _r(self) -> Any:
        core = self._core()
        if self._rust is None or self._rust_core is not core:
            self._rust = self._build(core)
            self._rust_core = core
        return self._rust
