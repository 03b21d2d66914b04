"""semcom: semantic communication of images over simulated wireless channels.

Deep joint source-channel coding (JSCC) systems and digital baselines answer one
interface, :meth:`semcom.link.Link.transmit`, so one harness compares them all.
"""

__version__ = "0.1.0"


def build(source: str, **kwargs):  # type: ignore[no-untyped-def]
    """Build any system by registry name, zoo name or checkpoint path (see
    :func:`semcom.zoo.build`); imported on first use so ``import semcom`` stays light."""
    from semcom.zoo import build as _build

    return _build(source, **kwargs)
