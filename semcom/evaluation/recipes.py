"""Registered recipes of ``semcom reproduce`` (see :mod:`semcom.evaluation.reproduce`)."""

from __future__ import annotations

from typing import Any

from semcom.evaluation.reproduce import RECIPES, Evaluation, Recipe, markdown_pivot


def _digital_table(rows: list[dict[str, Any]]) -> str:
    from semcom.evaluation.bench_digital import psnr_tables

    return psnr_tables(rows).strip()


@RECIPES.register("baselines")
def baselines() -> Recipe:
    """The shipped baselines: ConvJSCC / ADJSCC on CIFAR-10, HEVC + 5G LDPC on Kodak."""
    return Recipe(
        name="baselines",
        description=(
            "The README's two baseline tables. **cifar10**: the zoo's ConvJSCC models (cbr 1/12, "
            "each trained at one SNR) and the ADJSCC trained over 0-20 dB, on the CIFAR-10 test "
            "images (1,000 lossless; `--limit` fewer), AWGN, PSNR in dB "
            "(`configs/eval/adjscc_vs_convjscc.yaml`). **digital_kodak**: HEVC intra + 5G NR LDPC "
            "with auto MCS at CBR budgets 0.04 and 0.1, AWGN, SNR 1-13 dB, on the first Kodak "
            "images (2 unless `--limit`; the README's figures use all 24) "
            "(`configs/eval/digital_kodak.yaml`). `--train` retrains the CIFAR-10 models from "
            "their configs first (hours on a GPU) instead of using the zoo's weights."),
        evaluations=[
            Evaluation("cifar10", "configs/eval/adjscc_vs_convjscc.yaml", lambda rows: markdown_pivot(rows)),
            Evaluation("digital_kodak", "configs/eval/digital_kodak.yaml", _digital_table),
        ],
        train=[("configs/train/convjscc_cifar10_cbr1-12_snr4.yaml", "convjscc_cifar10_cbr1-12_snr4"),
               ("configs/train/convjscc_cifar10_cbr1-12_snr7.yaml", "convjscc_cifar10_cbr1-12_snr7"),
               ("configs/train/convjscc_cifar10_cbr1-12_snr13.yaml", "convjscc_cifar10_cbr1-12_snr13"),
               ("configs/train/adjscc_cifar10_cbr1-12_snr0-20.yaml", "adjscc_cifar10_cbr1-12_snr0-20")],
    )


@RECIPES.register("fajscc")
def fajscc() -> Recipe:
    """FAJSCC's claims on Kodak: PSNR vs MACs, PSNR vs rho_enc / rho_dec, PSNR and MS-SSIM vs SNR."""
    from semcom.evaluation.fajscc_claims import fajscc_recipe

    return fajscc_recipe()


@RECIPES.register("sp-jscc")
def sp_jscc() -> Recipe:
    """SP-JSCC's claims on CIFAR-10: accuracy, F1, PSNR, SSIM vs SNR and CPP against AR-JSCC and BPG + LDPC."""
    from semcom.evaluation.sp_jscc_claims import sp_jscc_recipe

    return sp_jscc_recipe()


@RECIPES.register("quad")
def quad() -> Recipe:
    """Quad-LIC RD and Quad-DeepSC vs VVC / HEVC / Quad-LIC + 5G LDPC on Kodak: ablations, robustness, latency."""
    from semcom.evaluation.quad_claims import quad_recipe

    return quad_recipe()


@RECIPES.register("nuq")
def nuq() -> Recipe:
    """NUQ's claims on CIFAR-10 and Tiny-ImageNet: non-uniform vs uniform quantization, weighting ablation, overhead."""
    from semcom.evaluation.nuq_claims import nuq_recipe

    return nuq_recipe()
