"""Quad-LIC: shapes and rates in training, real bitstreams (bit-exact, self-describing,
robust to bad bytes), the estimated rate against the file, the codec wrapper of the
digital link, checkpoints and training by ``semcom.training`` (tiny models, 64x64 images)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.codecs.base import CodecError
from semcom.entropy import BitstreamError
from semcom.errors import MissingDependencyError, SemcomError
from semcom.models.quad import HEADER_BYTES, ModelMismatchError, QuadLIC, export_checkpoint, load_quad_lic
from semcom.models.quad.bitstream import MAGIC, pack_header, parse_header

REPO = Path(__file__).resolve().parents[2]
KODIM23 = REPO / "semcom" / "assets" / "kodim23.png"
PARTITIONS = ("quadtree", "checkerboard", "channel_autoregressive")


def _crop(top: int = 180, left: int = 300, height: int = 64, width: int = 64) -> torch.Tensor:
    from PIL import Image

    with Image.open(KODIM23) as image:
        pixels = np.array(image.convert("RGB"))[top:top + height, left:left + width]
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


def _tiny(seed: int = 0, gain: float = 1.0, **kwargs) -> QuadLIC:
    """An untrained tiny model; ``gain`` scales the latent (more bits per element)."""
    torch.manual_seed(seed)
    model = QuadLIC(**{"N": 16, "M": 32, **kwargs})
    if gain != 1.0:
        with torch.no_grad():
            model.analysis[-2].weight.mul_(gain)
            model.analysis[-2].bias.mul_(gain)
    return model.update().eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return _crop()


@pytest.fixture(scope="module")
def model() -> QuadLIC:
    return _tiny(gain=8.0)


@pytest.fixture(scope="module")
def encoded(model, image) -> tuple[bytes, dict]:
    return model.compress(image, return_latents=True)


# ---------------------------------------------------------------------- training
@pytest.mark.parametrize("unet", [True, False])
@pytest.mark.parametrize("partition", PARTITIONS)
def test_forward_shapes_and_finite_rates(partition, unet):
    torch.manual_seed(0)
    model = QuadLIC(N=16, M=32, partition=partition, unet=unet)
    assert (model.unet is not None) == unet
    x = torch.rand(2, 3, 48, 80)  # padded to 64 x 128 inside, cropped back
    for mode in ("noise", "ste"):
        out = model.code(x, mode)
        assert out["x_hat"].shape == x.shape and torch.isfinite(out["x_hat"]).all()
        assert out["likelihoods"]["y"].shape == (2, 32, 4, 8)
        assert out["likelihoods"]["z"].shape == (2, 16, 1, 2)
        assert out["bpp"].shape == (2,) and torch.isfinite(out["bpp"]).all() and (out["bpp"] > 0).all()
        loss = model.rate_distortion_loss(x, out)
        assert set(loss) == {"loss", "mse", "bpp"} and torch.isfinite(loss["loss"])
        loss["loss"].backward()
        assert model.analysis[0].weight.grad is not None
        model.zero_grad()
    with pytest.raises(SemcomError, match="mode"):
        model.code(x, "nearest")


def test_the_ablation_only_drops_the_unet():
    with_unet, without = QuadLIC(N=16, M=32).state_dict(), QuadLIC(N=16, M=32, unet=False).state_dict()
    assert set(with_unet) - set(without) == {k for k in with_unet if k.startswith("unet.")}
    assert set(without) <= set(with_unet)


def test_rate_distortion_loss_falls_on_a_fixed_image(image):
    torch.manual_seed(0)
    model = QuadLIC(N=16, M=32, lmbda=0.013)
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if "quantiles" not in n], lr=2e-3)
    aux_opt = torch.optim.Adam([model.hyper_prior.quantiles], lr=1e-2)
    x = image[None]
    losses = []
    for step in range(10):
        opt.zero_grad()
        loss = model.rate_distortion_loss(x, model.code(x, "noise" if step < 6 else "ste"))["loss"]
        loss.backward()
        opt.step()
        aux_opt.zero_grad()
        model.aux_loss().backward()
        aux_opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


# ---------------------------------------------------------------------- coding
def test_round_trip_is_bit_exact_across_thread_counts(model, image):
    previous = torch.get_num_threads()
    try:
        for enc_threads, dec_threads in ((1, 2), (2, 1)):
            torch.set_num_threads(enc_threads)
            data, sent = model.compress(image, return_latents=True)
            assert torch.get_num_threads() == enc_threads  # the coding context restores it
            torch.set_num_threads(dec_threads)
            x_hat, got = model.decompress(data, return_latents=True)
            assert torch.get_num_threads() == dec_threads
            assert torch.equal(got["y_hat"], sent["y_hat"]) and torch.equal(got["z_hat"], sent["z_hat"])
            assert torch.equal(x_hat, sent["x_hat"])
            assert x_hat.shape == image.shape and 0 <= x_hat.min() <= x_hat.max() <= 1
            assert sent["y_hat"].abs().sum() > 0  # something was coded
    finally:
        torch.set_num_threads(previous)


def test_odd_sizes_and_batch_forms(model):
    x = torch.rand(1, 3, 17, 70, generator=torch.Generator().manual_seed(1))
    data = model.compress(x)
    assert model.decompress(data).shape == (3, 17, 70)
    with pytest.raises(SemcomError, match="one image"):
        model.compress(torch.rand(2, 3, 16, 16))
    with pytest.raises(SemcomError, match=r"\[0, 1\]"):
        model.compress(x * 3)


def test_header_round_trip_and_format(model, encoded, image):
    data, _ = encoded
    height, width, model_id, stream = parse_header(data)
    assert (height, width) == tuple(image.shape[1:]) and model_id == model.model_id()
    assert data[:3] == MAGIC and data[3] == 1 and len(data) == HEADER_BYTES + len(stream)
    assert int.from_bytes(stream[:4], "little") * 4 + 4 == len(stream)  # one entropy stream
    assert pack_header(height, width, model_id) == data[:HEADER_BYTES]
    assert len(model.model_id()) == 8 and model.model_id() == model.model_id()


def test_another_model_refuses_the_file_naming_the_mismatch(model, encoded):
    data, _ = encoded
    other = _tiny(seed=1, gain=8.0)
    with pytest.raises(ModelMismatchError, match=model.model_id().hex()) as info:
        other.decompress(data)
    assert other.model_id().hex() in str(info.value) and isinstance(info.value, BitstreamError)
    twin = _tiny(gain=8.0)  # same seed, config and weights: same identifier
    assert twin.model_id() == model.model_id()
    assert torch.equal(twin.decompress(data), model.decompress(data))
    with torch.no_grad():
        twin.to_image.bias.add_(1e-3)  # an in-place change is seen
    assert twin.model_id() != model.model_id()
    with pytest.raises(SemcomError, match="update"):
        QuadLIC(N=16, M=32).compress(torch.rand(3, 8, 8))


def test_bad_bytes_raise_bitstream_errors_quickly(model, encoded, image):
    data, _ = encoded
    rng = np.random.default_rng(19)
    cases: list[bytes] = [b"", b"QLC", data[:HEADER_BYTES], data[:-1], data + b"\0", data[:-4],
                          bytes(len(data)), b"\xff" * len(data)]
    cases += [bytes(rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8)) for _ in range(25)]
    cases += [data[:int(n)] for n in rng.integers(0, len(data), 25)]
    for position in rng.integers(0, len(data) * 8, 40):
        flipped = bytearray(data)
        flipped[int(position) // 8] ^= 1 << (int(position) % 8)
        cases.append(bytes(flipped))
    header = data[:HEADER_BYTES]  # right header, foreign stream
    cases += [header + bytes(rng.integers(0, 256, 4 * int(k), dtype=np.uint8)) for k in rng.integers(1, 40, 5)]
    cases += [header + np.array([k], "<u4").tobytes() + bytes(rng.integers(0, 256, 4 * int(k), dtype=np.uint8))
              for k in rng.integers(1, 40, 5)]
    assert len(cases) >= 100
    decoded = 0
    for blob in cases:
        start = time.perf_counter()
        try:
            out = model.decompress(blob)
        except SemcomError:  # BitstreamError (corrupt / foreign / mismatch) or SemcomError only
            pass
        else:  # undetectable damage (e.g. in the coder's final padding bits) still gives an image
            decoded += 1
            assert out.shape == image.shape and torch.isfinite(out).all()
        assert time.perf_counter() - start < 5.0
    assert decoded <= 8, f"{decoded} corrupt inputs decoded"


def test_estimated_rate_matches_the_file():
    """Untrained model, latent scaled and the context's scales set to the latent's spread
    (so the bits are those of a latent the model describes, not of a near-zero one)."""
    torch.manual_seed(0)
    model = QuadLIC(N=32, M=64)
    x = _crop()
    with torch.no_grad():
        model.analysis[-2].weight.mul_(50.0)
        model.analysis[-2].bias.mul_(50.0)
        spread = float(model.analysis(x[None]).std())
        for net in model.context.step_networks:
            net[-1].weight.mul_(0.01)
            net[-1].bias[:64] = 0.0
            net[-1].bias[64:] = math.log(math.expm1(spread))
    model.update().eval()
    data = model.compress(x)
    with torch.no_grad():
        estimate = float(model.code(x[None], "round")["bpp"][0]) * x.shape[1] * x.shape[2]
    stream_bits, file_bits = 8 * (len(data) - HEADER_BYTES), 8 * len(data)
    assert estimate > 3000
    assert abs(stream_bits / estimate - 1) < 0.03, (estimate, stream_bits)
    assert abs(file_bits / estimate - 1) < 0.05, (estimate, file_bits)


# ---------------------------------------------------------------------- codec
@pytest.fixture(scope="module")
def ladder() -> list[QuadLIC]:
    return [_tiny(seed=0, gain=g) for g in (2.0, 10.0, 50.0)]


def test_codec_encodes_decodes_and_fits_with_in_memory_models(ladder, image):
    from semcom.codecs.quad_lic import QuadLICCodec

    codec = QuadLICCodec(models=ladder)
    assert codec.knob.low == 1 and codec.knob.high == 3 and codec.knob.higher_is_better
    sizes = [len(codec.encode(image, q)) for q in (1, 2, 3)]
    assert sizes[0] < sizes[1] < sizes[2], sizes
    data = codec.encode(image, 2)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and torch.equal(decoded, torch.round(decoded * 255) / 255)
    inner = codec.unwrap(data)
    assert inner[0] == 2 and torch.equal(decoded, torch.round(ladder[1].decompress(inner[1:]) * 255) / 255)
    result = codec.fit(image, (sizes[1] + sizes[2]) // 2)
    assert result is not None and result.quality == 2 and result.num_bytes == sizes[1]
    assert codec.fit(image, 8) is None
    for bad in (b"", data[:-1], data[:len(data) // 2], bytes(64)):
        with pytest.raises(CodecError):
            codec.decode(bad)
    with pytest.raises(CodecError, match="model"):  # another ladder's model 2
        QuadLICCodec(models=[ladder[0], _tiny(seed=5, gain=10.0)]).decode(data)
    with pytest.raises(CodecError, match="quality"):
        codec.encode(image, 4)


def test_missing_weights_name_the_file_and_how_to_train_it(tmp_path):
    from semcom.codecs.quad_lic import MissingWeightsError, QuadLICCodec

    with pytest.raises(MissingWeightsError) as info:
        QuadLICCodec(pattern=str(tmp_path / "nothing_q{index}"))
    message = str(info.value)
    assert isinstance(info.value, CodecError) and isinstance(info.value, MissingDependencyError)
    assert "quality 1" in message and "nothing_q1" in message and "\n" not in message
    assert "semcom train configs/train/quad_lic_hr.yaml --set model.lmbda=0.0018" in message
    assert "and 3 more" in message and "download" in message


# ---------------------------------------------------------------------- checkpoints and training
def test_checkpoints_rebuild_the_same_model(model, encoded, tmp_path, monkeypatch):
    from semcom.codecs.quad_lic import QuadLICCodec
    from semcom.models.quad.checkpoints import find_by_model_id

    data, _ = encoded
    base = export_checkpoint(model, tmp_path / "quad_lic_q1", info={"note": "test"})
    loaded = load_quad_lic(base)
    assert loaded.model_id() == model.model_id() and loaded.config == model.config
    assert torch.equal(loaded.decompress(data), model.decompress(data))
    codec = QuadLICCodec(checkpoints=[str(base)])
    assert codec.decode(codec.encode(_crop(0, 0, 32, 32), 1)).shape == (3, 32, 32)
    half = load_quad_lic(export_checkpoint(model, tmp_path / "half", dtype=torch.float16))
    assert half.hyper_prior.table_medians.dtype == torch.float32
    half_data = half.compress(_crop(0, 0, 32, 32))
    half.decompress(half_data)
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path))  # the header's identifier finds the zoo file
    assert find_by_model_id(parse_header(data)[2]) == base
    assert find_by_model_id(parse_header(half_data)[2]) == tmp_path / "half"
    assert find_by_model_id(bytes(8)) is None


def test_the_model_answers_the_training_contract(image):
    from semcom.models import create_model
    from semcom.registry import CODEC_MODELS, SYSTEMS
    from semcom.training.objective import build_objective

    assert "quad_lic" in CODEC_MODELS and "quad_lic" not in SYSTEMS
    model = create_model("quad_lic", N=16, M=32, lmbda=0.01)
    assert isinstance(model, QuadLIC) and model.mode == {"quantize": "noise"}
    assert model.set_modes(quantize="ste") == {"quantize": "ste"}
    with pytest.raises(SemcomError, match="quantize"):
        model.set_modes(quantize="round")
    x = image[None].repeat(2, 1, 1, 1)
    out = model(x, None, torch.tensor([10.0, 10.0]), torch.Generator().manual_seed(0))
    loss = build_objective("mse")(out, type("Batch", (), {"images": x, "labels": None})())
    rd = model.rate_distortion_loss(x, out)
    torch.testing.assert_close(loss.total * 0.01 * 255**2, rd["loss"])  # the paper's loss / (lmbda 255^2)
    assert out["channel_uses"].tolist() == [0, 0] and set(out["aux"]) == {"rate"}
    loss.total.backward()
    assert model.aux_loss().requires_grad
    with torch.no_grad():  # eval mode codes with rounding: the rate the coder spends
        evaluated = model.eval()(x)
    torch.testing.assert_close(evaluated["bpp"], model.code(x, "round")["bpp"])


def test_the_trainer_runs_both_stages_and_the_codec_loads_the_result(tmp_path):
    from PIL import Image

    from semcom.codecs.quad_lic import QuadLICCodec
    from semcom.training import train

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray((_crop(40 * i, 60 * i, 80, 80) * 255).round().byte().permute(1, 2, 0).numpy()) \
            .save(folder / f"{i}.png")
    config = {
        "model": {"name": "quad_lic", "N": 16, "M": 32, "lmbda": 0.0067},
        "data": {"name": "folder", "root": str(folder), "crop": 64, "hflip": True},
        "loss": "mse", "aux_optimizer": {"params": ["*quantiles*"], "lr": 1.0e-3},
        "optimizer": {"lr": 1.0e-4}, "batch_size": 2, "log_every": 1, "threads": 1,
        "out_dir": str(tmp_path / "run"),
        "stages": [{"name": "lic-noise", "steps": 2, "modes": {"quantize": "noise"}},
                   {"name": "lic-ste", "steps": 1, "modes": {"quantize": "ste"}, "init_from": "previous"}],
    }
    final = train(config, verbose=False)
    assert final == tmp_path / "run" / "lic-ste" / "final"
    codec = QuadLICCodec(checkpoints=[str(final)])
    x = _crop(0, 0, 40, 24)
    assert codec.decode(codec.encode(x, 1)).shape == x.shape
    from semcom.zoo import build
    from semcom.zoo.checkpoint import read_checkpoint_meta

    assert read_checkpoint_meta(final)["info"]["kind"] == "learned_codec"
    from semcom.zoo.checkpoint import load_checkpoint

    assert load_checkpoint(final).tensors["gaussian.cdf_counts"].numel() > 0  # shipped with its tables
    built = build(str(final))  # the zoo routes it by its kind, to the learned codec models
    assert isinstance(built, QuadLIC) and built.config == codec.model(1).config
    assert built.tables_ready() and built.decompress(built.compress(x)).shape == x.shape


def test_the_shipped_config_parses():
    from semcom.configfile import read_config_file
    from semcom.registry import CODEC_MODELS
    from semcom.training.config import config_from_dict
    from semcom.training.stages import stage_configs

    raw = read_config_file(REPO / "configs" / "train" / "quad_lic_hr.yaml")
    stages = stage_configs(raw)
    assert [name for name, _ in stages] == ["lic-noise", "lic-ste"]
    for _, stage in stages:
        cfg = config_from_dict(stage)
        assert cfg.model.name == "quad_lic" and not cfg.imports
        assert cfg.aux_optimizer is not None and cfg.data.crop == 256
        assert all("kodak" not in str(s.get("root", "")) for s in cfg.data.sources)
        CODEC_MODELS.check_kwargs(cfg.model.name, cfg.model.kwargs)
    assert [config_from_dict(s).modes["quantize"] for _, s in stages] == ["noise", "ste"]


@pytest.mark.parametrize("size", [(1, 1), (1, 65535), (8192, 8192), (9000, 9000), (0, 5), (65536, 1)])
def test_header_writer_and_reader_accept_the_same_sizes(size):
    from semcom.entropy import BitstreamError

    height, width = size
    try:
        head = pack_header(height, width, bytes(8))
    except BitstreamError:
        head = None
    if head is None:  # what cannot be written is also what cannot be read
        assert not (1 <= height <= 65535 and 1 <= width <= 65535 and height * width <= 1 << 26)
    else:
        assert parse_header(head)[:2] == (height, width)
