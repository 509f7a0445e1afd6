"""ccc-dsl: call-center configuration as code and IVR compiler."""

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from importlib.abc import Loader  # 13 ms to import: a loader's two methods suffice

__version__ = "0.1.0"


class _NoPydanticPlugins:
    """pydantic hands every model and every value it validates to the plugins that installed
    packages register (entry points of group `pydantic`); manifests name secrets, so ccc runs
    none (docs/security.md). pydantic finds plugins through its module `_loader`: this finder,
    put first on the import path by `refuse_pydantic_plugins`, makes that module one that finds
    none. It also spares every run
    the scan of all installed distributions (importlib.metadata and email: some 15 ms of a
    compile). The environment of processes ccc starts is left alone."""

    NAME = "pydantic.plugin._loader"

    @classmethod
    def find_spec(cls, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        return ModuleSpec(fullname, cast("Loader", cls)) if fullname == cls.NAME else None

    @staticmethod
    def create_module(spec: ModuleSpec) -> None:
        return None  # the default module

    @staticmethod
    def exec_module(module: ModuleType) -> None:
        vars(module)["get_plugins"] = _no_plugins


def _no_plugins() -> tuple[()]:
    return ()


def refuse_pydantic_plugins() -> None:
    """Make pydantic find no plugins in this process: the `ccc` command does so first thing
    (a program that imports ccc_dsl keeps its own plugin policy). Too late once pydantic has
    looked for plugins; then nothing changes."""
    if _NoPydanticPlugins.NAME not in sys.modules and _NoPydanticPlugins not in sys.meta_path:
        sys.meta_path.insert(0, _NoPydanticPlugins)
