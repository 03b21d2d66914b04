"""Separate source and channel coding: an image codec over LDPC + QAM (the digital baseline).

``image -> codec bytes -> header + payload -> LDPC (5G NR TBs or 802.11n) -> QAM ->
channel -> equalize -> LLRs -> decode -> CRC -> bytes -> image``.

Accounting (``shared/design/conventions.md``):

* Every transmission's symbols count, retransmissions included:
  ``k = sum over transmissions of ceil(coded_bits / bits_per_symbol)``.
* The receiver needs the payload length and, in auto mode, the MCS. They travel in a
  4-byte control header (MCS index, 24-bit payload length): side information, sent
  through the same bit pipe as the codec's bytes (:mod:`semcom.phy.bitpipe`: its own
  transport block at the side-information MCS, :data:`CONTROL_MCS`, with the link's
  retransmissions); its channel uses are charged.
* Run-time setting ``mcs`` (``transmit(..., mcs=9)``, ``--run mcs=9``): a fixed MCS
  for this call, or ``auto``; default: as the link was built.
* The codec's bytes are every byte its decoder needs (see :mod:`semcom.codecs`).

Operating point (auto MCS): the budget ``k = floor(cbr * 3 H W)`` channel uses, minus
the control block, is filled at the highest-rate MCS whose tabulated TB error rate at
the SNR, for the TBs that allocation gives at that MCS (code-block size and count), is
at most ``target_bler`` (:func:`semcom.phy.select_mcs`: the project's simulated tables
read by Sionna's ``PHYAbstraction``; over fading channels the EESM effective SNR of
fast Rayleigh fading, :mod:`semcom.phy.abstraction`); the codec's best quality that
fits that payload is chosen by bisection. Higher rate means a bigger payload, so this
is the upper envelope over MCS at the target error rate. The choice is then verified by
the full simulation that delivers the image. Below the lowest usable MCS's threshold
(MCS 3, QPSK rate 0.245; MCS 0-2 cannot be encoded by Sionna) MCS 3 is used anyway and
HARQ retransmissions are what rescue the image, if anything.

HARQ (5G only): ``harq="ir"`` (default: incremental redundancy, RVs 0, 2, 3, 1 of the
LDPC circular buffer, soft-combined), ``"chase"`` or ``"none"``;
``max_retransmissions=3`` (4 transmissions, as 5G typically allows; the Quad paper's
setting is 9).

PHY abstraction (run-time setting ``phy_abstraction``, default False): TB errors are
drawn from the BLER tables at each TB's effective SNR instead of decoding
(:class:`semcom.phy.AbstractTransportBlockLink`; the 802.11n PHY likewise): the same
channel uses, exact bytes when a TB passes, random bytes when it fails; for large
sweeps. Reported figures use full simulation.

Budget filling (``fill_budget=True``, the default): as in 5G, the transport-block
size follows from the allocation, not from the data: the codec's bytes are padded
with zeros to the largest payload the budget carries at the MCS, so every image of a
size is sent in the same TBs (and one decoder serves them all) and the first
transmission uses the whole budget. The header's length field tells the receiver where
the codec's bytes end. ``fill_budget=False`` sends only the codec's bytes.

Speed: each image's encodings are cached (per codec, by image content) and shared by
every budget, SNR and link in the process, so a sweep encodes each image a few times,
not once per point; ``workers > 1`` sends the images of a batch in that many worker
processes (one torch thread each). Every image draws its own seed from the
generator, so the result does not depend on ``workers``.

Failures: a TB that fails its CRC is retransmitted (fresh noise and fading) up to
``max_retransmissions`` times; if any TB still fails, or the bytes pass the CRC but do
not decode, or the codec cannot fit the budget at all, or the image is too small for
the codec (HEVC and VVC under 16x16: ``reason="size"``), the image is lost: the receiver
shows a mid-gray image and ``extras["failed"]`` is True for it (an image that could
not be coded sends only its header, saying so, and is charged for that).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import multiprocessing
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch
from torch import Tensor

from semcom.channels.base import Channel
from semcom.conventions import LOST_IMAGE_VALUE, SNR, channel_uses_for_cbr, parse_cbr, snr_to_batch
from semcom.errors import SemcomError
from semcom.link import Link, TransmitResult
from semcom.registry import SYSTEMS
from semcom.phy.bitpipe import SIDE_INFO_MCS
from semcom.settings import RunSettings, Setting

#: MCS of the control header: the side-information MCS (the most robust one Sionna accepts)
CONTROL_MCS = SIDE_INFO_MCS
#: header bytes: MCS index (1) + payload length (3)
HEADER_BYTES = 4
PHYS = ("5g", "wifi")
#: images whose encodings the process keeps (per codec configuration)
MAX_CACHED_IMAGES = 32

_ENCODINGS: OrderedDict[tuple[str, str], dict[float, bytes | None]] = OrderedDict()


def _encodings(codec_key: str, image: Tensor) -> dict[float, bytes | None]:
    """The process-wide ``{quality: bytes}`` cache of one image under one codec setup."""
    key = (codec_key, hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest())
    if key in _ENCODINGS:
        _ENCODINGS.move_to_end(key)
    else:
        _ENCODINGS[key] = {}
        while len(_ENCODINGS) > MAX_CACHED_IMAGES:
            _ENCODINGS.popitem(last=False)
    return _ENCODINGS[key]


def _pack_header(mcs: int, length: int) -> bytes:
    if not 0 <= length < 1 << 24:
        raise SemcomError(f"payload of {length} bytes is too long for the 24-bit length field")
    return bytes([mcs & 0xFF]) + int(length).to_bytes(3, "big")


def _unpack_header(data: bytes) -> tuple[int, int]:
    return data[0], int.from_bytes(data[1:4], "big")


@SYSTEMS.register("digital")
class SeparationLink(Link):
    """Image codec + LDPC + QAM with 3GPP MCS selection and retransmissions.

    Args:
        codec: image codec name (``semcom.codecs``: jpeg, jpeg2000, webp, avif, heic,
            hevc, vvc, jpegxl).
        cbr: channel-use budget per image as ``k / (3 H W)`` (first transmission,
            control header included); retransmissions come on top.
        mcs: fixed MCS index of TS 38.214 table 1 (3..28), or None for auto selection.
        phy: ``"5g"`` (NR transport blocks) or ``"wifi"`` (802.11n (1944, 1458) LDPC,
            rate 3/4, fixed QAM, no retransmission; the SP-JSCC baseline).
        bits_per_symbol: QAM order of the ``wifi`` PHY (4 = 16-QAM).
        max_retransmissions: extra transmissions of a failed TB (5G only; 3 = four
            transmissions, as 5G typically allows).
        harq: combining of retransmissions: ``"ir"`` (incremental redundancy),
            ``"chase"`` or ``"none"``.
        target_bler: TB error rate the auto MCS selection aims at.
        bler_table: channel the selection assumes (``"awgn"``, or ``"rayleigh"``: EESM
            effective SNR of fast Rayleigh fading); default: ``"rayleigh"`` for fading
            channels, else awgn.
        num_iter: BP decoder iterations.
        codec_options: keyword arguments of the codec.
        fill_budget: pad the codec's bytes to the payload the budget carries (the 5G
            allocation sets the TB size); False sends only the codec's bytes.
        workers: processes that send the images of a batch in parallel (1: in this
            process).
    """

    name = "digital"
    settings = (
        Setting("mcs", int, None, "link", low=3, high=28, allow_auto=True,
                help="MCS index of TS 38.214 table 1 for this call, or auto (BLER-table choice)"),
        Setting("phy_abstraction", bool, False, "link",
                help="draw TB errors from the BLER tables instead of decoding (fast sweeps)"),
    )

    def __init__(self, codec: str = "hevc", cbr: float | str = 1 / 16, mcs: int | None = None,
                 phy: str = "5g", bits_per_symbol: int = 4, max_retransmissions: int = 3,
                 harq: str = "ir", target_bler: float = 0.1, bler_table: str | None = None,
                 num_iter: int = 20, codec_options: dict[str, Any] | None = None, fill_budget: bool = True,
                 workers: int = 1) -> None:
        from semcom.codecs import create_codec
        from semcom.phy import (HARQ_MODES, AbstractTransportBlockLink, AbstractWifiLDPCLink, TransportBlockLink,
                                WifiLDPCLink, check_usable_mcs)
        from semcom.phy.abstraction import SELECTION_CHANNELS

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise SemcomError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self._settings = {"codec": codec, "cbr": cbr, "mcs": mcs, "phy": phy, "bits_per_symbol": bits_per_symbol,
                          "max_retransmissions": max_retransmissions, "harq": harq,
                          "target_bler": target_bler, "bler_table": bler_table, "num_iter": num_iter,
                          "codec_options": codec_options, "fill_budget": fill_budget}
        self.fill_budget = bool(fill_budget)
        self._codec_key = json.dumps([str(codec).lower(), codec_options or {}], sort_keys=True, default=str)

        self.codec_name = str(codec).lower()
        self.codec = create_codec(self.codec_name, **(codec_options or {}))
        self.cbr = parse_cbr(cbr)
        self.phy = str(phy).lower()
        if self.phy not in PHYS:
            raise SemcomError(f"unknown phy {phy!r} (known: {', '.join(PHYS)})")
        self.mcs = None if mcs is None else check_usable_mcs(int(mcs)).index
        if not 0.0 < float(target_bler) < 1.0:
            raise SemcomError(f"target_bler must be in (0, 1), got {target_bler!r}")
        self.target_bler = float(target_bler)
        if bler_table is not None and bler_table not in SELECTION_CHANNELS:
            raise SemcomError(f"bler_table must be one of {', '.join(SELECTION_CHANNELS)}, got {bler_table!r}")
        self.bler_table = bler_table
        if isinstance(max_retransmissions, bool) or not isinstance(max_retransmissions, int) \
                or max_retransmissions < 0:
            raise SemcomError(f"max_retransmissions must be an integer >= 0, got {max_retransmissions!r}")
        if harq not in HARQ_MODES:
            raise SemcomError(f"harq must be one of {', '.join(HARQ_MODES)}, got {harq!r}")
        self.max_retransmissions = int(max_retransmissions)
        self.harq = harq
        self.bits_per_symbol = int(bits_per_symbol)
        self.tb_link = TransportBlockLink(num_iter=num_iter, max_retransmissions=self.max_retransmissions,
                                          harq=harq)
        self.wifi_link = WifiLDPCLink(bits_per_symbol=self.bits_per_symbol, num_iter=num_iter) \
            if self.phy == "wifi" else None
        # the same links with TB errors drawn from the BLER tables (phy_abstraction=True)
        self.abstract_links = {"tb": AbstractTransportBlockLink(self.tb_link),
                               "wifi": AbstractWifiLDPCLink(self.wifi_link) if self.wifi_link else None}
        from semcom.phy.bitpipe import NRBitPipe, WifiBitPipe

        def bit_pipe(tb: Any, wifi: Any) -> Any:
            return WifiBitPipe(link=wifi) if self.phy == "wifi" else NRBitPipe(CONTROL_MCS, link=tb)

        # one bit pipe carries the header (at CONTROL_MCS) and the codec's bytes (the MCS
        # of the call); keyed by phy_abstraction
        self.pipes = {False: bit_pipe(self.tb_link, self.wifi_link),
                      True: bit_pipe(self.abstract_links["tb"], self.abstract_links["wifi"])}

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A fast instance: JPEG at cbr 1/4 (fits a 32x32 image)."""
        return {"codec": "jpeg", "cbr": 0.25}

    # -- operating point ------------------------------------------------------------
    def control_channel_uses(self) -> int:
        """Channel uses of one transmission of the control header."""
        return self.pipes[False].channel_uses(HEADER_BYTES)

    def choose_mcs(self, snr_db: float, channel: Channel, mcs: int | str | None = None,
                   channel_uses: int | None = None) -> int:
        """The MCS for an SNR: ``mcs`` (a run-time setting: an index, ``"auto"``, or None
        for the configured one), the fixed one, else the BLER-table choice for an
        allocation of ``channel_uses`` (MCS 3 below every threshold)."""
        from semcom.phy import check_usable_mcs, select_mcs

        if isinstance(mcs, int):
            return check_usable_mcs(mcs).index
        if mcs is None and self.mcs is not None:
            return self.mcs
        table = self.bler_table or ("awgn" if getattr(channel, "name", "awgn") == "awgn" else "rayleigh")
        choice = select_mcs(float(snr_db), self.target_bler, table,
                            channel_uses=channel_uses if channel_uses and channel_uses > 0 else None)
        return CONTROL_MCS if choice is None else choice

    def data_channel_uses(self, height: int, width: int) -> int:
        """The budget's channel uses left for the codec's bytes after the header."""
        return channel_uses_for_cbr(self.cbr, height, width) - self.control_channel_uses()

    def payload_budget(self, height: int, width: int, mcs: int | None) -> int:
        """Codec bytes that fit the first transmission at ``mcs`` (0 if none)."""
        k = self.data_channel_uses(height, width)
        if k <= 0:
            return 0
        pipe = self.pipes[False]
        return pipe.max_payload_bytes(k) if self.phy == "wifi" else pipe.max_payload_bytes(k, mcs)

    def _fit(self, image: Tensor, max_bytes: int) -> Any:
        """Codec fit on the image's cached encodings (shared by every budget)."""
        if max_bytes <= 0:
            return None
        return self.codec.fit(image, int(max_bytes), cache=_encodings(self._codec_key, image))

    # -- transmission ---------------------------------------------------------------
    def _send(self, data: bytes, mcs: int, channel: Channel, snr_db: float,
              generator: torch.Generator | None, abstraction: bool = False) -> tuple[bytes, bool, int, int]:
        """Bytes over the PHY (decoded, or drawn from the tables with ``abstraction``):
        (received, ok, channel uses, transmissions)."""
        d = self.pipes[abstraction].send(data, channel, snr_db, generator, mcs=None if self.phy == "wifi" else mcs)
        return d.payload, d.ok, d.channel_uses, d.transmissions

    def _transmit_one(self, image: Tensor, channel: Channel, snr_db: float,
                      generator: torch.Generator | None, mcs_setting: int | str | None = None,
                      abstraction: bool = False) -> tuple[Tensor, dict[str, Any]]:
        from semcom.codecs.base import CodecError

        _, h, w = image.shape
        lost = torch.full_like(image, LOST_IMAGE_VALUE)
        pipe = self.pipes[abstraction]
        mcs = self.choose_mcs(snr_db, channel, mcs_setting, self.data_channel_uses(h, w)) if self.phy == "5g" else -1
        budget = self.payload_budget(h, w, mcs if mcs >= 0 else None)
        small = not self.codec.accepts(image)
        fit = None if small else self._fit(image, budget)
        info: dict[str, Any] = {"mcs": mcs, "quality": float("nan"), "payload_bytes": 0,
                                "transmissions": 0, "failed": True, "reason": ""}
        if fit is None:  # only the header goes out, announcing that nothing follows
            hd = pipe.send(_pack_header(max(mcs, 0), 0), channel, snr_db, generator)
            info.update(channel_uses=hd.channel_uses, transmissions=hd.transmissions,
                        reason="size" if small else "budget")
            return lost, info
        info.update(quality=float(fit.quality), payload_bytes=fit.num_bytes)
        header = _pack_header(max(mcs, 0), fit.num_bytes)
        payload = fit.data + bytes(budget - fit.num_bytes) if self.fill_budget else fit.data
        hd = pipe.send(header, channel, snr_db, generator)
        got_header, ok_h, uses_h, tx_h = hd.payload, hd.ok, hd.channel_uses, hd.transmissions
        got, ok_d, uses_d, tx_d = self._send(payload, mcs, channel, snr_db, generator, abstraction)
        got = got[:fit.num_bytes]
        info.update(channel_uses=uses_h + uses_d, transmissions=max(tx_h, tx_d))
        if not (ok_h and ok_d) or _unpack_header(got_header) != (max(mcs, 0), fit.num_bytes):
            info["reason"] = "crc"
            return lost, info
        try:
            decoded = self.codec.decode(got)
        except CodecError:
            info["reason"] = "decode"
            return lost, info
        info["failed"] = False
        return decoded.to(image.dtype), info

    def _transmit(self, images: Tensor, channel: Channel, snr_db: SNR,
                  generator: torch.Generator | None, settings: RunSettings) -> TransmitResult:
        images = images.detach().cpu()
        n = images.shape[0]
        snr = snr_to_batch(snr_db, n)
        seeds = torch.randint(0, 2**62, (n,), generator=generator).tolist()
        mcs_setting = settings["mcs"]
        abstraction = bool(settings["phy_abstraction"])
        if self.workers > 1 and n > 1:
            config = json.dumps(self._settings, sort_keys=True, default=str)
            # image b always goes to worker b % workers, so a sweep that sends the same
            # batch at every SNR finds each image's encodings in the same process
            jobs = [_pool(b % self.workers).submit(_worker_transmit, config, images[b], channel,
                                                   float(snr[b]), seeds[b], mcs_setting, abstraction)
                    for b in range(n)]
            done = [job.result() for job in jobs]
        else:
            done = [self._transmit_one(images[b], channel, float(snr[b]), torch.Generator().manual_seed(seeds[b]),
                                       mcs_setting, abstraction) for b in range(n)]
        outs = [o for o, _ in done]
        infos = [i for _, i in done]
        return TransmitResult.build(
            torch.stack(outs), [i["channel_uses"] for i in infos],
            failed=torch.tensor([i["failed"] for i in infos]),
            mcs=torch.tensor([i["mcs"] for i in infos]),
            transmissions=torch.tensor([i["transmissions"] for i in infos]),
            payload_bytes=torch.tensor([i["payload_bytes"] for i in infos]),
            quality=[i["quality"] for i in infos],
            failure_reason=[i["reason"] for i in infos],
        )

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, "codec": self.codec_name, "cbr": self.cbr, "phy": self.phy,
                "mcs": "auto" if self.mcs is None else self.mcs, "max_retransmissions": self.max_retransmissions,
                "harq": self.harq, "target_bler": self.target_bler,
                "fill_budget": self.fill_budget}


# ------------------------------------------------------------------ worker processes
_POOLS: dict[int, ProcessPoolExecutor] = {}
_WORKER_LINKS: dict[str, SeparationLink] = {}


def _worker_start() -> None:
    torch.set_num_threads(1)


def _pool(slot: int) -> ProcessPoolExecutor:
    """The single-process executor of worker ``slot`` (spawned on first use)."""
    if slot not in _POOLS:
        _POOLS[slot] = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_worker_start)
    return _POOLS[slot]


@atexit.register
def close_workers() -> None:
    """Shut down the worker processes of every :class:`SeparationLink`."""
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def _worker_transmit(config: str, image: Tensor, channel: Channel, snr_db: float, seed: int,
                     mcs_setting: int | str | None = None, abstraction: bool = False
                     ) -> tuple[Tensor, dict[str, Any]]:
    """Send one image in a worker with a link of the given configuration (built once)."""
    if config not in _WORKER_LINKS:
        _WORKER_LINKS[config] = SeparationLink(**json.loads(config))
    link = _WORKER_LINKS[config]
    return link._transmit_one(image, channel, snr_db, torch.Generator().manual_seed(seed), mcs_setting,
                              abstraction)
