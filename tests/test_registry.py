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


def test_check_kwargs_names_what_a_factory_does_not_take():
    reg = Registry("widget")

    @reg.register("gizmo")
    class Gizmo:
        def __init__(self, size=1, cbr=0.5):
            self.size = size

    @reg.register("open")
    def open_factory(**kwargs):
        return kwargs

    reg.check_kwargs("gizmo", {"size": 2, "cbr": 1})  # fine: no error
    reg.check_kwargs("open", {"anything": 1})  # **kwargs takes all
    assert reg.accepted_kwargs("gizmo") == ["size", "cbr"] and reg.accepted_kwargs("open") is None
    with pytest.raises(SemcomError, match=r"widget 'gizmo' does not take sise; did you mean size\? "
                                          r"\(it takes: size, cbr\)"):
        reg.check_kwargs("gizmo", {"sise": 2})
    with pytest.raises(SemcomError, match=r"^my gizmo does not take size \(it takes: cbr\)$"):
        reg.check_kwargs("gizmo", {"size": 2}, what="my gizmo", reserved=("size",))
    with pytest.raises(UnknownNameError, match="unknown widget 'gadget'"):
        reg.check_kwargs("gadget", {})
