"""The training objective: weighted loss terms on the model's reconstructions plus its
auxiliary (rate, ratio, ...) terms, built from a config's ``loss``.

Forms of ``loss`` in a training config::

    loss: mse                                   # d(x, x_hat) + sum(aux)
    loss: {name: ssim}                          # any term of semcom.training.losses.LOSSES
    loss: {name: weighted-mse, aux_model: {path: runs/classifier/final}}
    loss: {name: lpips, weights: /data/lpips_alex.safetensors}
    loss:                                       # several terms: their weighted sum
      name: sum
      terms:
        - {name: mse}                           # on the model's x_hat
        - {name: mse, on: lic, weight: 1.0}     # on output["reconstructions"]["lic"]
      aux: true                                 # which aux terms: true (encoder and
                                                # decoder), encoder, decoder, or false

Each term takes ``on`` (``x_hat`` or the name of an extra reconstruction the model
returns), ``weight`` (a finite number >= 0, default 1) and its own keyword arguments.
The total is ``sum(weight_i * term_i) + sum(aux terms)``; the aux terms come already
weighted from the model (``output["aux"]``, or ``"aux_enc"`` / ``"aux_dec"`` for one
side). A new objective is a new registered term: the training loop only calls
:class:`Objective`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.training.losses import LOSSES, LossTerm, aux_total

if TYPE_CHECKING:
    from semcom.training.data import Batch

AUX_SIDES = {True: "aux", "all": "aux", "both": "aux", "encoder": "aux_enc", "decoder": "aux_dec"}
_TERM_KEYS = ("name", "on", "weight")


@dataclass
class LossValue:
    """One batch's objective: ``total = distortion + aux``, all scalars with gradients.

    ``terms``: each term's unweighted value by label (``mse``, ``mse@lic``, ...).
    """

    total: Tensor
    distortion: Tensor
    aux: Tensor
    terms: dict[str, Tensor]


class Objective(nn.Module):
    """``(model output, batch)`` -> :class:`LossValue`.

    Args:
        terms: ``[(label, on, weight, term)]``.
        aux: which of the model's aux outputs enter: ``"aux"`` (encoder and decoder),
            ``"aux_enc"``, ``"aux_dec"``, or None (none).
    """

    def __init__(self, terms: list[tuple[str, str, float, LossTerm]], aux: str | None = "aux") -> None:
        super().__init__()
        self.labels = [label for label, _, _, _ in terms]
        self.targets = [on for _, on, _, _ in terms]
        self.weights = [weight for _, _, weight, _ in terms]
        self.terms = nn.ModuleList(term for _, _, _, term in terms)
        self.aux_key = aux

    def forward(self, output: Mapping[str, Any], batch: "Batch") -> LossValue:
        """The loss of one batch from the model's forward ``output`` (``x_hat``
        ``(B, 3, H, W)``, ``reconstructions``, ``aux``/``aux_enc``/``aux_dec``)."""
        values: dict[str, Tensor] = {}
        distortion: Tensor | None = None
        for label, on, weight, term in zip(self.labels, self.targets, self.weights, self.terms):
            value = term(_reconstruction(output, on), batch)
            values[label] = value
            weighted = value if weight == 1.0 else weight * value
            distortion = weighted if distortion is None else distortion + weighted
        assert distortion is not None
        aux = aux_total(self._aux_terms(output), distortion)
        return LossValue(total=distortion + aux, distortion=distortion, aux=aux, terms=values)

    def _aux_terms(self, output: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if self.aux_key is None:
            return None
        if self.aux_key not in output:
            raise SemcomError(f"loss.aux: the model returns no {self.aux_key!r} (encoder- and decoder-side "
                              "aux terms); use aux: true")
        return output[self.aux_key]


def _reconstruction(output: Mapping[str, Any], on: str) -> Tensor:
    if on == "x_hat":
        return output["x_hat"]
    extra = output.get("reconstructions") or {}
    if on not in extra:
        raise SemcomError(f"loss term on {on!r}: the model returns no reconstruction {on!r} "
                          f"(it returns: {', '.join(['x_hat', *extra])})")
    return extra[on]


def build_objective(spec: str | Mapping[str, Any]) -> Objective:
    """The :class:`Objective` a config's ``loss`` describes (see the module docstring).

    Raises:
        SemcomError: an unknown loss or argument, a bad ``weight``/``on``/``aux`` (named).
    """
    raw: dict[str, Any] = {"name": spec} if isinstance(spec, str) else dict(spec) if isinstance(spec, Mapping) else {}
    if not isinstance(raw.get("name"), str):
        raise SemcomError(f"loss must be a name or {{name: ..., ...}}, got {spec!r}")
    aux = _aux_side(raw.pop("aux", True))
    if raw["name"].lower() == "sum":
        unknown = sorted(set(raw) - {"name", "terms"})
        if unknown:
            raise SemcomError(f"unknown config key 'loss.{unknown[0]}' (loss sum takes terms and aux)")
        entries = raw.get("terms")
        if not isinstance(entries, list) or not entries:
            raise SemcomError("loss.terms must be a non-empty list of {name: ..., on: ..., weight: ...}")
        wheres = [f"loss.terms[{i}]" for i in range(len(entries))]
    else:
        entries, wheres = [raw], ["loss"]
    terms, seen = [], set()
    for entry, where in zip(entries, wheres):
        label, on, weight, term = _term(entry, where)
        while label in seen:
            label += "'"
        seen.add(label)
        terms.append((label, on, weight, term))
    return Objective(terms, aux)


def _aux_side(value: Any) -> str | None:
    if value is False or value == "none":
        return None
    if isinstance(value, (bool, str)) and value in AUX_SIDES:
        return AUX_SIDES[value]
    raise SemcomError(f"loss.aux must be true, false, encoder or decoder, got {value!r}")


def _term(entry: Any, where: str) -> tuple[str, str, float, LossTerm]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise SemcomError(f"{where} must be {{name: LOSS, ...}}, got {entry!r}")
    name = entry["name"].lower()
    if name == "sum":
        raise SemcomError(f"{where}: a sum cannot be a term of a sum")
    LOSSES.get(name)  # an unknown name first, before its options
    on, weight = entry.get("on", "x_hat"), entry.get("weight", 1.0)
    if not isinstance(on, str) or not on:
        raise SemcomError(f"{where}.on must name a reconstruction (x_hat or the model's), got {on!r}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not _finite(weight) or weight < 0:
        raise SemcomError(f"{where}.weight must be a finite number >= 0, got {weight!r}")
    options = {k: v for k, v in entry.items() if k not in _TERM_KEYS}
    LOSSES.check_kwargs(name, options, what=f"{where}: loss {name!r}")
    term = LOSSES.create(name, **options)
    label = name if on == "x_hat" else f"{name}@{on}"
    return label, on, float(weight), term


def _finite(value: float) -> bool:
    """Whether ``value`` is finite as a float: neither NaN nor infinite (an int too
    large for a float is not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
