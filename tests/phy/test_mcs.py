"""MCS table 1 of TS 38.214 (Table 5.1.3.1-1) against the standard's printed values."""

from __future__ import annotations

import pytest

from semcom.errors import SemcomError
from semcom.phy.mcs import MAX_MCS, check_usable_mcs, get_mcs, mcs_table, usable_mcs

# (I_MCS, Q_m, R x 1024, spectral efficiency) copied from TS 38.214 Table 5.1.3.1-1.
STANDARD_ROWS = [
    (0, 2, 120, 0.2344),
    (1, 2, 157, 0.3066),
    (2, 2, 193, 0.3770),
    (3, 2, 251, 0.4902),
    (5, 2, 379, 0.7402),
    (9, 2, 679, 1.3262),
    (10, 4, 340, 1.3281),
    (13, 4, 490, 1.9141),
    (16, 4, 658, 2.5703),
    (17, 6, 438, 2.5664),
    (20, 6, 567, 3.3223),
    (24, 6, 772, 4.5234),
    (27, 6, 910, 5.3320),
    (28, 6, 948, 5.5547),
]


@pytest.mark.parametrize("index, qm, rate_x1024, efficiency", STANDARD_ROWS)
def test_rows_match_the_standard(index: int, qm: int, rate_x1024: int, efficiency: float) -> None:
    m = get_mcs(index)
    assert m.index == index
    assert m.modulation_order == qm
    assert m.code_rate_x1024 == rate_x1024
    assert m.spectral_efficiency == pytest.approx(efficiency, abs=5e-5)


def test_table_has_29_rows_with_qpsk_16qam_64qam_in_order() -> None:
    table = mcs_table()
    assert [m.index for m in table] == list(range(MAX_MCS + 1))
    orders = [m.modulation_order for m in table]
    assert orders == [2] * 10 + [4] * 7 + [6] * 12
    # within one modulation the rate grows with the index
    for a, b in zip(table, table[1:]):
        if a.modulation_order == b.modulation_order:
            assert b.code_rate > a.code_rate


def test_usable_set_excludes_rates_below_one_fifth() -> None:
    assert usable_mcs() == tuple(range(3, 29))
    for index in (0, 1, 2):
        assert get_mcs(index).code_rate < 1 / 5
        with pytest.raises(SemcomError, match="1/5"):
            check_usable_mcs(index)
    assert check_usable_mcs(3).modulation == "QPSK"


@pytest.mark.parametrize("bad", [-1, 29, 31, 2.5, "7", True, None])
def test_invalid_indices_are_clean_errors(bad: object) -> None:
    with pytest.raises(SemcomError):
        get_mcs(bad)  # type: ignore[arg-type]
