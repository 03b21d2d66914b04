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


def test_check_kwargs_and_create_name_missing_required_arguments():
    reg = Registry("widget")

    @reg.register("gizmo")
    def gizmo(model, size, scale=1.0):
        return (model, size, scale)

    with pytest.raises(SemcomError, match=r"^widget 'gizmo' needs model, size \(it takes: model, size, scale\)$"):
        reg.check_kwargs("gizmo", {"scale": 2.0})
    with pytest.raises(SemcomError, match=r"^my gizmo needs size \(it takes: size, scale\)$"):
        reg.check_kwargs("gizmo", {}, what="my gizmo", reserved=("model",))  # the caller fills model in
    with pytest.raises(SemcomError, match=r"^widget 'gizmo' does not take sise; did you mean size\?; "
                                          r"it also needs size \(it takes: model, size, scale\)$"):
        reg.check_kwargs("gizmo", {"model": 1, "sise": 2})
    reg.check_kwargs("gizmo", {"scale": 2.0}, partial=True)  # the rest comes from elsewhere
    reg.check_kwargs("gizmo", {"model": 1, "size": 2})
    with pytest.raises(SemcomError, match=r"^widget 'gizmo' needs size "):  # not a TypeError
        reg.create("gizmo", model=1)
    assert reg.create("gizmo", model=1, size=2) == (1, 2, 1.0)


def test_parameters_are_the_signatures_names_and_defaults():
    import inspect

    reg = Registry("widget")

    @reg.register("gizmo")
    class Gizmo:
        def __init__(self, size, *extra, cbr=0.5, **options):
            pass

    reg.register("unreadable")(dict)  # a builtin whose signature cannot be read
    reg.register("positional")(len)
    assert reg.parameters("gizmo") == {"size": inspect.Parameter.empty, "cbr": 0.5}
    assert reg.accepted_kwargs("gizmo") is None  # **options: anything goes
    assert reg.parameters("unreadable") == {} and reg.accepted_kwargs("unreadable") is None
    assert reg.parameters("positional") == {} and reg.accepted_kwargs("positional") == []


def test_channel_parameters_come_from_the_registry(monkeypatch):
    import inspect

    from semcom import channels
    from semcom.registry import CHANNELS

    assert channels.channel_parameters("rician") == CHANNELS.parameters("rician")
    assert channels.channel_parameters("awgn") == {
        p.name: p.default for p in inspect.signature(channels.AWGN).parameters.values()}
    monkeypatch.setattr(CHANNELS, "parameters", lambda name: {"only": 1})  # the one place signatures are read
    assert channels.channel_parameters("awgn") == {"only": 1}
