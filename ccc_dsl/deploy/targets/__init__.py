"""Where a bundle is deployed: a runtime directory on this machine, or on hosts over SSH.

`make_target` turns an environment's `target:` settings (ccc_dsl.manifest.model) into a
`Target` (base.py); relative paths are from the repo root. `local_runtime_dir` is the one place
that says where a local target lives, so `ccc serve` and `ccc apply` use the same directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the manifest models import pydantic: not for a plan that needs no target
    from ccc_dsl.deploy.targets.base import Target
    from ccc_dsl.manifest.model import LocalTarget as LocalSettings
    from ccc_dsl.manifest.model import SshTarget as SshSettings


def _path(root: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


def local_runtime_dir(settings: LocalSettings | SshSettings | None, root: Path) -> Path | None:
    """The runtime directory of an environment that deploys to this machine; None otherwise."""
    from ccc_dsl.manifest.model import LocalTarget as LocalSettings

    return _path(root, settings.path) if isinstance(settings, LocalSettings) else None


def make_target(settings: LocalSettings | SshSettings, root: Path, env: str | None) -> Target:
    """The target an environment deploys to."""
    from ccc_dsl.manifest.model import LocalTarget as LocalSettings

    name = env or "default"
    if isinstance(settings, LocalSettings):
        from ccc_dsl.deploy.targets.local import LocalTarget

        path = local_runtime_dir(settings, root)
        assert path is not None
        return LocalTarget(path, name, settings.keep_bundles)
    from ccc_dsl.deploy.targets.ssh import SshHost, SshTarget

    hosts = [SshHost(h.host, h.path, h.user, h.port) for h in settings.hosts]
    return SshTarget(name, hosts,
                     known_hosts=_path(root, settings.known_hosts) if settings.known_hosts
                     else None,
                     identity_file=_path(root, settings.identity_file)
                     if settings.identity_file else None, keep_bundles=settings.keep_bundles)
