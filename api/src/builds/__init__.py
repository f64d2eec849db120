"""The registry of model generations the server knows, by version name."""
from .base import RemoteFile, VersionSpec
from .v0_19 import SPEC as V0_19
from .v1_0 import SPEC as V1_0

VERSIONS: dict[str, VersionSpec] = {spec.version: spec for spec in (V1_0, V0_19)}

__all__ = ["VERSIONS", "RemoteFile", "VersionSpec"]
