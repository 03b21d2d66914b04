import pytest

from semcom.errors import SemcomError, UnknownNameError
from semcom.registry import Registry


def test_register_create_and_suggest():
    reg = Registry("widget")

    @reg.register("Gizmo")
    class Gizmo:
        """A gizmo."""

        def __init__(self, size=1):
            self.size = size

    assert "gizmo" in reg and reg.names() == ["gizmo"]
    assert reg.create("GIZMO", size=3).size == 3
    assert reg.help("gizmo") == "A gizmo."
    with pytest.raises(UnknownNameError, match="did you mean gizmo"):
        reg.create("gizmos")
    with pytest.raises(SemcomError, match="unknown widget"):
        reg.get("nothing-like-it")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("gizmo")(object)
