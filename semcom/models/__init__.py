"""Neural JSCC systems, registered by name in :data:`semcom.registry.SYSTEMS`."""

from semcom.models import uncoded  # noqa: F401  (registers "uncoded")
from semcom.models.base import Encoded, JSCCModel

__all__ = ["Encoded", "JSCCModel"]
