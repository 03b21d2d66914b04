"""Evaluation: sweeps over systems x channels x SNRs x CBRs, result tables and plots.

``semcom evaluate CONFIG`` calls :func:`evaluate`; see :mod:`semcom.evaluation.config`
for the config format (run-time settings, metrics, plots, envelope, BD tables),
:mod:`semcom.evaluation.results` for the columns written, :mod:`semcom.evaluation.tables`
for the reductions and :mod:`semcom.evaluation.reproduce` for ``semcom reproduce NAME``.
"""

from semcom.evaluation.config import EvalConfig
from semcom.evaluation.sweep import evaluate, run_sweep
from semcom.evaluation.systems import SystemUnderTest, build_channel, build_link, build_systems

__all__ = ["EvalConfig", "SystemUnderTest", "build_channel", "build_link", "build_systems", "evaluate",
           "run_sweep"]
