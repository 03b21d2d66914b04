"""semcom: semantic communication of images over simulated wireless channels.

Deep joint source-channel coding (JSCC) systems and digital baselines answer one
interface, :meth:`semcom.link.Link.transmit`, so one harness compares them all.
"""

__version__ = "0.1.0"
