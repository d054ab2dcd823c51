"""``RecipeProxy``: ``client.recipes.<Name>(...)`` builds a recipe bound to the client."""

from __future__ import annotations

from typing import Any, Dict, Type


class RecipeClassProxy:
    """Calls the recipe class and binds the instance to the client."""

    def __init__(self, client: Any, recipe_class: Type[Any]) -> None:
        self.client = client
        self.recipe_class = recipe_class

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        recipe = self.recipe_class(*args, **kwargs)
        recipe.set_client(self.client)
        return recipe


class RecipeProxy:
    """``client.recipes``: every recipe class by name (``AttributeError`` for others)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.installed_classes: Dict[str, Type[Any]] = {}
        from . import RECIPES

        for name, cls in RECIPES.items():
            self.installed_classes[name] = cls

    def __getattr__(self, name: str) -> RecipeClassProxy:
        if name not in self.installed_classes:
            raise AttributeError(f'No such recipe: {name}')
        return RecipeClassProxy(self.client, self.installed_classes[name])
