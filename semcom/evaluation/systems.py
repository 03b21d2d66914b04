"""Build what a sweep compares: links from system specs, channels from channel specs.

A system spec is a mapping::

    {"system": "uncoded", "equalizer": "zf"}                  # registry name + kwargs
    {"system": "digital", "codec": "jpeg", "cbr": ["1/24", "1/12"]}   # one link per cbr
    {"checkpoint": "semcom/zoo/weights/convjscc_cifar10_cbr1-12_snr7", "label": "ConvJSCC"}
    {"pretrained": "adjscc_hr_cbr1-16"}                        # a zoo name
    {"link": my_link, "label": "mine"}                         # a Link object (Python only)
    {"system": "digital", "codec": "hevc", "run": {"mcs": [5, 9, 14]}}   # run-time settings

``run`` holds run-time settings (the link's ``settings``, see :mod:`semcom.settings`),
in one of two forms:

* a mapping (product form), ``run: {mcs: [5, 9], rate: 0.5}``: a list is a sweep axis
  (every combination of the lists is one point), a scalar is fixed;
* a list of points, ``run: [{rho_enc: 0.1, rho_dec: 0.1}, {rho_enc: 0.5}]``: exactly
  these points, in the order written (each a mapping of scalars; settings a point leaves
  out take their defaults).

They are passed to ``link.transmit`` and never rebuild the model. Their shape is
checked by :func:`validate_system_spec` (when a config loads); names and values are
validated against the link's declared settings by :func:`resolve_runs` when
:func:`build_systems` builds it, before any transmission. Either way, a system's swept
settings (:attr:`SystemUnderTest.swept`) are those that take more than one value
across its points.

``label`` is the display name in tables and plots. Specs that share a label form one
curve in the PSNR-vs-CBR plot (e.g. one checkpoint per CBR of one architecture).
Systems constructed by CBR take ``cbr`` as a constructor argument; a checkpoint's CBR
is fixed by its config, so a ``cbr`` given with a checkpoint must match it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from semcom.conventions import parse_cbr
from semcom.errors import SemcomError
from semcom.link import Link
from semcom.registry import SYSTEMS
from semcom.settings import AUTO, Setting, resolve_settings

#: keys of a system spec that are not constructor arguments
RESERVED_KEYS = ("system", "checkpoint", "pretrained", "label", "cbr", "link", "run")
_SOURCES = ("checkpoint", "pretrained", "link")


@dataclass
class SystemUnderTest:
    """One link of a sweep.

    Attributes:
        label: display name (table rows, plot legends).
        link: the system.
        cbr_requested: the CBR the link was built for (None for fixed-rate checkpoints
            or systems without a CBR setting).
        source: checkpoint path or zoo name it was loaded from ("" if built by name).
        spec: the single-CBR spec it was built from.
        runs: the run-time settings of each point (every combination of a mapping
            ``run``, or the listed points of a list ``run``): ``(given, resolved)`` pairs,
            ``given`` what ``transmit`` receives (validated values of the settings the
            point names), ``resolved`` every declared setting with defaults filled
            (``[({}, {...defaults})]`` without ``run``).
    """

    label: str
    link: Link
    cbr_requested: float | None
    source: str
    spec: dict[str, Any]
    runs: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=lambda: [({}, {})])

    @property
    def settings(self) -> tuple[Setting, ...]:
        """The run-time settings the link declares."""
        return tuple(getattr(self.link, "settings", ()) or ())

    @property
    def swept(self) -> list[str]:
        """Names of the settings that take more than one value across :attr:`runs`
        (defaults filled in), in the order the points first name them."""
        named = dict.fromkeys(name for given, _ in self.runs for name in given)
        return [name for name in named if len({repr(resolved.get(name)) for _, resolved in self.runs}) > 1]

    @property
    def system_name(self) -> str:
        """Registry name of the system."""
        return str(getattr(self.link, "name", self.spec.get("system", "")))


# ---------------------------------------------------------------------- systems
def _run_mapping(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """The mapping (product) form of a spec's ``run`` as name -> list of values (a scalar
    is one value), checked for shape; ``{}`` when ``run`` is absent or a list of points."""
    run = spec.get("run")
    if run is None or isinstance(run, (list, tuple)):
        return {}
    if not isinstance(run, dict):
        raise SemcomError(f"system {describe_spec(spec)}: run must be a mapping of run-time settings "
                          f"like {{mcs: 9, rho_dec: [0.2, 0.5]}} or a list of points like "
                          f"[{{rho_enc: 0.1, rho_dec: 0.1}}], got {run!r}")
    out: dict[str, list[Any]] = {}
    for name, value in run.items():
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise SemcomError(f"system {describe_spec(spec)}: run.{name} is an empty list")
        if any(isinstance(v, (dict, list, tuple)) for v in values):
            raise SemcomError(f"system {describe_spec(spec)}: run.{name} values must be scalars, got {value!r}")
        if len({repr(v) for v in values}) != len(values):
            raise SemcomError(f"system {describe_spec(spec)}: run.{name} lists a value twice")
        out[str(name)] = values
    return out


def _run_list(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The list-of-points form of a spec's ``run`` (``[{rho_enc: 0.1, rho_dec: 0.1}, ...]``),
    checked for shape, each point a plain dict with string keys; None when ``run`` is
    absent or not a list.

    Raises:
        SemcomError: an empty list, a point that is not a mapping, a list or mapping as a
            value, or one point written twice. (Setting names and values are checked
            against the link's declared settings by :func:`resolve_runs`.)
    """
    run = spec.get("run")
    if not isinstance(run, (list, tuple)):
        return None
    name = describe_spec(spec)
    if not run:
        raise SemcomError(f"system {name}: run is an empty list; give points like "
                          "[{rho_enc: 0.1, rho_dec: 0.1}] or a mapping of values")
    points: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for i, point in enumerate(run):
        if not isinstance(point, dict):
            raise SemcomError(f"system {name}: run point {i} must be a mapping of settings like "
                              f"{{rho_enc: 0.1, rho_dec: 0.5}}, got {point!r}")
        for setting, value in point.items():
            if isinstance(value, (dict, list, tuple)):
                raise SemcomError(f"system {name}: run point {i}: {setting} must be one scalar value "
                                  f"(a point fixes every setting it names), got {value!r}")
        one = {str(k): v for k, v in point.items()}
        key = repr(sorted(one.items()))
        if key in first:
            raise SemcomError(f"system {name}: run points {first[key]} and {i} are the same point {one}")
        first[key] = i
        points.append(one)
    return points


def run_points(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The points a spec's ``run`` asks for, in the order written, checked for shape only
    (not against any link): every combination of the mapping form (``run: {a: [1, 2],
    b: 3}`` -> ``[{a: 1, b: 3}, {a: 2, b: 3}]``), exactly the listed points of the list
    form (``run: [{a: 1}, {a: 2, b: 4}]``); ``[{}]`` without ``run``."""
    listed = _run_list(spec)
    if listed is not None:
        return listed
    run = _run_mapping(spec)
    return [dict(zip(run, combo)) for combo in itertools.product(*run.values())]


def _check_run(spec: dict[str, Any]) -> None:
    """Check the shape of ``spec["run"]`` (either form); a list of points is stored
    back normalized (a list of plain dicts with string keys)."""
    listed = _run_list(spec)
    if listed is not None:
        spec["run"] = listed
    else:
        _run_mapping(spec)


def _cbr_values(spec: dict[str, Any]) -> list[float | None]:
    raw = spec.get("cbr")
    if raw is None:
        return [None]
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    if not values:
        raise SemcomError(f"system {describe_spec(spec)}: cbr is an empty list")
    out = [parse_cbr(v) for v in values]
    if len(set(out)) != len(out):
        raise SemcomError(f"system {describe_spec(spec)}: cbr lists a value twice")
    return out


def describe_spec(spec: dict[str, Any]) -> str:
    """A short name of a spec for error messages."""
    for key in ("label", "pretrained", "checkpoint", "system"):
        if spec.get(key):
            return repr(str(spec[key]))
    return repr(spec)


def validate_system_spec(spec: Any) -> dict[str, Any]:
    """Check a spec's structure and names without building anything; returns a copy.

    Raises:
        SemcomError: not a mapping, both checkpoint and pretrained, no system named,
            unknown system, arguments the system does not take, invalid cbr, a ``run``
            of the wrong shape (either form, see the module docstring).
    """
    if not isinstance(spec, dict):
        raise SemcomError(f"a system must be a mapping like {{system: uncoded}}, got {spec!r}")
    spec = dict(spec)
    sources = [k for k in _SOURCES if spec.get(k) is not None and spec.get(k) != ""]
    if len(sources) > 1:
        raise SemcomError(f"system {describe_spec(spec)} names both {sources[0]} and {sources[1]}; pick one")
    if spec.get("link") is not None:
        if not isinstance(spec["link"], Link):
            raise SemcomError(f"system {describe_spec(spec)}: link must be a semcom Link, "
                              f"got {type(spec['link']).__name__}")
        extra = sorted(k for k in spec if k not in ("link", "label", "run"))
        if extra:
            raise SemcomError(f"system {describe_spec(spec)}: a ready-made link takes only a label and "
                              f"run settings, not {', '.join(extra)}")
        _check_run(spec)
        return spec
    for key in ("system", "label", "checkpoint", "pretrained"):
        if spec.get(key) is not None and not isinstance(spec[key], (str, Path)):
            raise SemcomError(f"system {describe_spec(spec)}: {key} must be a string, got {spec[key]!r}")
    if not sources:
        name = spec.get("system")
        if not name:
            raise SemcomError(f"system spec {spec!r} needs one of system, checkpoint or pretrained")
        kwargs = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
        if spec.get("cbr") is not None:
            kwargs["cbr"] = None
        SYSTEMS.check_kwargs(str(name), kwargs, what=f"system {name!r}")
    _cbr_values(spec)
    _check_run(spec)
    return spec


def expand_system_spec(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """One spec per CBR value: ``{..., "cbr": [a, b]}`` -> ``[{..., "cbr": a}, {..., "cbr": b}]``
    (values parsed to floats; a spec without cbr comes back as is)."""
    spec = validate_system_spec(spec)
    out = []
    for cbr in _cbr_values(spec):
        one = dict(spec)
        if cbr is None:
            one.pop("cbr", None)
        else:
            one["cbr"] = cbr
        out.append(one)
    return out


def pretrained_base_path(name: str) -> Path:
    """Base path of the zoo checkpoint ``name`` (clear error if the zoo is unavailable)."""
    try:
        from semcom.zoo.pretrained import pretrained_path
    except ImportError:
        raise SemcomError(f"cannot load pretrained model {name!r}: this installation has no model zoo") from None
    return Path(pretrained_path(name))


def _load_checkpoint_link(path: str | Path, spec: dict[str, Any]) -> Link:
    """Rebuild a checkpoint's system (:func:`semcom.zoo.load_built`); ``spec`` kwargs
    override its config, and a ``cbr`` must match the one it was built for."""
    from semcom.zoo import load_built, read_checkpoint_meta

    meta = read_checkpoint_meta(path)
    system = str(meta["system"])
    if spec.get("system") and str(spec["system"]).lower() != system.lower():
        raise SemcomError(f"checkpoint {path} holds system {system!r}, not {spec['system']!r}")
    overrides = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
    if spec.get("cbr") is not None:
        fixed = meta["config"].get("cbr")
        if fixed is None:
            overrides["cbr"] = spec["cbr"]
        elif abs(parse_cbr(fixed) - float(spec["cbr"])) > 1e-9:
            raise SemcomError(f"checkpoint {path} was built for cbr {parse_cbr(fixed):.6g}, "
                              f"not the requested {float(spec['cbr']):.6g}; list one checkpoint per cbr")
    return load_built(path, overrides)


def build_link(spec: dict[str, Any], device: str | torch.device = "cpu") -> Link:
    """Build one link from a spec with at most one cbr.

    Args:
        spec: ``{"system": name, **kwargs}``, ``{"checkpoint": path}`` or
            ``{"pretrained": zoo name}``, optionally ``"cbr"`` (number or ``"1/16"``)
            and ``"label"``.
        device: where an ``nn.Module`` link is moved (it is also put in eval mode).

    Raises:
        SemcomError: invalid spec, unknown system or zoo name, unreadable or mismatched
            checkpoint, or a cbr list with more than one value (use :func:`build_systems`).
    """
    specs = expand_system_spec(spec)
    if len(specs) > 1:
        raise SemcomError(f"system {describe_spec(spec)} lists {len(specs)} cbr values; "
                          "build_link makes one link (use build_systems)")
    one = specs[0]
    if one.get("link") is not None:
        link = one["link"]
    elif one.get("pretrained"):
        link = _load_checkpoint_link(pretrained_base_path(str(one["pretrained"])), one)
    elif one.get("checkpoint"):
        link = _load_checkpoint_link(Path(str(one["checkpoint"])).expanduser(), one)
    else:
        from semcom.zoo import build

        kwargs = {k: v for k, v in one.items() if k not in RESERVED_KEYS}
        if one.get("cbr") is not None:
            kwargs["cbr"] = one["cbr"]
        if str(one["system"]) not in SYSTEMS:
            SYSTEMS.get(str(one["system"]))  # the registry's error, with close matches
        link = build(str(one["system"]), **kwargs)
    if not isinstance(link, Link):
        raise SemcomError(f"system {describe_spec(spec)} did not build a Link (got {type(link).__name__})")
    if isinstance(link, torch.nn.Module):
        link.to(device).eval()
    return link


def _default_label(spec: dict[str, Any]) -> str:
    if spec.get("label"):
        return str(spec["label"])
    if spec.get("link") is not None:
        return str(getattr(spec["link"], "name", type(spec["link"]).__name__))
    if spec.get("pretrained"):
        return str(spec["pretrained"])
    if spec.get("checkpoint"):
        return Path(str(spec["checkpoint"])).name.removesuffix(".safetensors").removesuffix(".json")
    return str(spec["system"])


def build_systems(specs: list[dict[str, Any]], device: str | torch.device = "cpu") -> list[SystemUnderTest]:
    """Build every link of a sweep (one per spec and cbr value), with unique labels, and
    resolve each one's run-time points (:func:`resolve_runs`; a ``run`` of either form,
    see the module docstring) into :attr:`SystemUnderTest.runs`.

    Two entries may share a label (one curve) if they differ in cbr or checkpoint.
    Unlabelled entries of one system that would collide get their kwargs appended.

    Raises:
        SemcomError: an invalid spec, a label listed twice, or a ``run`` the link's
            settings reject (see :func:`resolve_runs`), before anything is transmitted.
    """
    entries: list[tuple[dict[str, Any], str, float | None, str]] = []
    for spec in specs:
        for one in expand_system_spec(spec):
            source = str(one.get("pretrained") or one.get("checkpoint") or "")
            if one.get("link") is not None:
                source = f"<{type(one['link']).__name__} object>"
            entries.append((one, _default_label(one), one.get("cbr"), source))

    def keys() -> list[tuple[str, float | None, str]]:
        return [(label, cbr, source) for _, label, cbr, source in entries]

    current = keys()
    for i, (one, label, cbr, source) in enumerate(entries):
        if current.count(current[i]) > 1 and not one.get("label"):
            extra = {k: v for k, v in one.items() if k not in RESERVED_KEYS}
            if extra:
                label = f"{label}(" + ",".join(f"{k}={v}" for k, v in extra.items()) + ")"
                entries[i] = (one, label, cbr, source)
    current = keys()
    for key in current:
        if current.count(key) > 1:
            cbr_text = "" if key[1] is None else f" at cbr {key[1]:.6g}"
            raise SemcomError(f"system {key[0]!r}{cbr_text} is listed twice; give the entries different labels")
    out = []
    for one, label, cbr, source in entries:
        link = build_link(one, device)
        out.append(SystemUnderTest(label=label, link=link, cbr_requested=cbr, source=source, spec=one,
                                   runs=resolve_runs(link, one, label)))
    return out


def _check_distinct_values(specs: tuple[Setting, ...], spec: dict[str, Any], label: str) -> None:
    """No setting of a mapping ``run`` may list one value twice once validated (``mcs:
    [9, "9"]``, ``rate: [auto, null]``): the two points would be the same."""
    by_name = {s.name: s for s in specs}
    owner = f"system {label!r}"
    for name, values in _run_mapping(spec).items():
        if name not in by_name:
            continue  # resolve_settings names the unknown setting
        seen: dict[Any, Any] = {}
        for value in values:
            valid = by_name[name].validate(value, owner)
            key = None if valid == AUTO else valid
            if key in seen:
                raise SemcomError(f"{owner}: run.{name} lists a value twice ({seen[key]!r} and {value!r} "
                                  f"are both {valid!r}), so two points would be the same")
            seen[key] = value


def resolve_runs(link: Link, spec: dict[str, Any], label: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Validate every point of ``spec["run"]`` (:func:`run_points`: the combinations of
    the mapping form or the listed points of the list form) against ``link.settings``.

    Returns:
        ``(given, resolved)`` per point, see :attr:`SystemUnderTest.runs`.

    Raises:
        SemcomError: a setting the link does not declare, or a value of the wrong type
            or out of range (named with the system's label), a value listed twice once
            validated (``mcs: [9, "9"]``), or two listed points that are the same once
            validated and their defaults filled in.
    """
    specs = tuple(getattr(link, "settings", ()) or ())
    owner = f"system {label!r}"
    _check_distinct_values(specs, spec, label)
    out = []
    first: dict[str, int] = {}
    for i, point in enumerate(run_points(spec)):
        resolved = resolve_settings(specs, point, owner=owner).as_dict()
        key = repr(sorted(resolved.items()))
        if key in first:  # only the list form can get here: distinct values make distinct combinations
            raise SemcomError(f"{owner}: run points {first[key]} and {i} are the same point ({resolved})")
        first[key] = i
        out.append(({k: resolved[k] for k in point}, resolved))
    return out


# --------------------------------------------------------------------- channels
def build_channel(name: str, params: dict[str, Any] | None = None) -> torch.nn.Module:
    """A channel by registry name with constructor ``params`` (clear error if unknown)."""
    from semcom.channels import create_channel

    return create_channel(name, **(params or {}))
