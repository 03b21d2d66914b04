"""Modulation and coding schemes: MCS table 1 of TS 38.214 (Table 5.1.3.1-1).

The table is read from Sionna (:func:`sionna.phy.nr.utils.decode_mcs_index`, PDSCH,
table 1), not retyped, and tests spot-check it against the standard's values.

Usable set
----------
Sionna's 5G LDPC encoder supports code rates ``>= 1/5`` only (rate matching by
repetition is not implemented), so MCS 0-2 (target rates 120, 157 and 193 / 1024)
cannot be encoded. They are **excluded**: :func:`usable_mcs` starts at MCS 3 (QPSK,
rate 251/1024), and asking the link for MCS 0-2 is a :class:`SemcomError`. Below the
threshold of MCS 3 a link either loses the transport blocks or, with retransmissions
and chase combining (:mod:`semcom.phy.transport`), gains about 3 dB per doubling of
the transmissions, which plays the role of the missing low-rate entries.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache

from semcom.errors import SemcomError

#: TS 38.214 MCS table used throughout (Table 5.1.3.1-1, "table 1").
MCS_TABLE_INDEX = 1
#: Largest MCS index of table 1 (29-31 are reserved for retransmissions).
MAX_MCS = 28
#: Lowest code rate Sionna's ``LDPC5GEncoder`` accepts.
MIN_ENCODABLE_RATE = 1.0 / 5.0

_MODULATION_NAMES = {2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM"}


@dataclass(frozen=True)
class MCS:
    """One row of the MCS table.

    Attributes:
        index: ``I_MCS`` (0..28).
        modulation_order: ``Q_m``, bits per QAM symbol (2, 4 or 6 in table 1).
        code_rate_x1024: target code rate ``R x 1024`` as printed in the standard.
    """

    index: int
    modulation_order: int
    code_rate_x1024: float

    @property
    def code_rate(self) -> float:
        """Target code rate ``R`` (information bits per coded bit)."""
        return self.code_rate_x1024 / 1024.0

    @property
    def spectral_efficiency(self) -> float:
        """``Q_m * R`` information bits per complex symbol (the table's last column)."""
        return self.modulation_order * self.code_rate

    @property
    def modulation(self) -> str:
        """Name of the constellation (``"QPSK"``, ``"16QAM"``, ``"64QAM"``)."""
        return _MODULATION_NAMES[self.modulation_order]

    @property
    def encodable(self) -> bool:
        """Whether Sionna's 5G LDPC encoder supports this MCS's rate."""
        return self.code_rate >= MIN_ENCODABLE_RATE

    def __str__(self) -> str:
        return f"MCS {self.index} ({self.modulation}, R={self.code_rate_x1024:g}/1024)"


@lru_cache(maxsize=1)
def mcs_table() -> tuple[MCS, ...]:
    """All 29 rows (MCS 0..28) of TS 38.214 Table 5.1.3.1-1, from Sionna."""
    import torch
    from sionna.phy.nr.utils import decode_mcs_index

    indices = torch.arange(MAX_MCS + 1)
    orders, rates = decode_mcs_index(indices, table_index=MCS_TABLE_INDEX, is_pusch=False,
                                     device="cpu")
    return tuple(
        MCS(index=int(i), modulation_order=int(q), code_rate_x1024=round(float(r) * 1024.0, 1))
        for i, q, r in zip(indices.tolist(), orders.tolist(), rates.tolist())
    )


def get_mcs(index: int | MCS) -> MCS:
    """The row of MCS ``index`` (0..28); an :class:`MCS` is returned unchanged.

    Raises:
        SemcomError: if the index is not an integer in ``0..28``.
    """
    if isinstance(index, MCS):
        return index
    try:
        if isinstance(index, bool):
            raise TypeError
        i = operator.index(index)
    except TypeError:
        raise SemcomError(f"MCS index must be an integer in 0..{MAX_MCS}, got {index!r}") from None
    if not 0 <= i <= MAX_MCS:
        raise SemcomError(f"MCS index must be in 0..{MAX_MCS} (TS 38.214 table 1), got {i}")
    return mcs_table()[i]


def usable_mcs() -> tuple[int, ...]:
    """Indices the digital link can transmit with (3..28; see the module notes)."""
    return tuple(m.index for m in mcs_table() if m.encodable)


def check_usable_mcs(index: int | MCS) -> MCS:
    """Like :func:`get_mcs`, but also rejects MCS 0-2, whose rates Sionna cannot encode."""
    mcs = get_mcs(index)
    if not mcs.encodable:
        raise SemcomError(
            f"{mcs} has code rate {mcs.code_rate:.3f} < 1/5, which Sionna's 5G LDPC encoder "
            f"cannot encode; use MCS {usable_mcs()[0]}..{MAX_MCS} (retransmissions with "
            f"chase combining cover lower SNRs)")
    return mcs
