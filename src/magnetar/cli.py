"""Command-line interface: a thin layer that parses arguments and calls ``run_*`` functions."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from . import __version__
from .errors import ConfigError, MagnetarError
from .workflows.cleaning import cli as cleaning_cli

LOGGER = logging.getLogger("magnetar")


def _int_list(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _float_list_or_none(text):
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        msg = f"expected comma-separated numbers or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _factors(text):
    """``"britain=10,emag2v3=2"`` -> ``{"britain": 10.0, "emag2v3": 2.0}``; "none" -> {}."""
    if text.strip().lower() == "none":
        return {}
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            msg = f"expected SOURCE=FACTOR[,SOURCE=FACTOR...], got {text!r}"
            raise argparse.ArgumentTypeError(msg)
    return out


def _add_lma_classification(lsub):
    win = lsub.add_parser("windows", help="list a grid's sliding windows (CSV to label)",
                          description="Write top-left node, centre coordinates and valid "
                                      "fraction of every window, with label -1 to fill in "
                                      "(1 linear, 0 non-linear, -1 ambiguous).")
    win.add_argument("grid", help="input grid (netCDF, GMT, PNG tile, ...)")
    win.add_argument("--out", required=True, help="output CSV")
    win.add_argument("--size", type=int, default=250, help="window size in nodes (250)")
    win.add_argument("--stride", type=int, default=50, help="stride in nodes (50)")
    lab = lsub.add_parser("label-export", help="windows as PNGs (original | diffused)",
                          description="Export each window as an 8-bit PNG, the original on "
                                      "the left and the coherence-diffused grid on the right "
                                      "(north up), with windows.csv to fill in labels.")
    lab.add_argument("grid")
    lab.add_argument("--out", required=True, help="output folder")
    lab.add_argument("--size", type=int, default=250)
    lab.add_argument("--stride", type=int, default=50)
    lab.add_argument("--limit", type=int, help="at most this many windows")
    tr = lsub.add_parser("train", help="train a window classifier (CNN or transfer)",
                         description="Train a registered classifier (lma_cnn, vgg19, resnet18, "
                                     "mobilenet_v2, ...) on labelled windows of real grids "
                                     "(--grids with --labels) or on the synthetic seafloor "
                                     "corpus. Blocked split by default. Writes checkpoints/, "
                                     "metrics.json (test accuracy, precision, recall, F1, "
                                     "ROC-AUC, confusion) and learning_curve.png.")
    _lma_common(tr)
    tr.add_argument("--model", default="lma_cnn",
                    help="registered model: lma_cnn (the study's CNN), lma_coherence (classical "
                         "structure-tensor baseline, trains in seconds on a CPU), or a "
                         "backbone: vgg19, resnet18, mobilenet_v2, ... (default lma_cnn)")
    tr.add_argument("--batch-norm", action="store_true", dest="batch_norm",
                    help="lma_cnn with batch normalisation after each convolution")
    tr.add_argument("--grids", nargs="*", help="real grids to train on")
    tr.add_argument("--labels", nargs="*", help="label CSVs, one per grid")
    tr.add_argument("--weights", choices=("imagenet",), help="pretrained ImageNet weights")
    tr.add_argument("--weights-path", dest="weights_path",
                    help="local weights: torchvision state dict or a magnetar checkpoint "
                         "(e.g. from 'magnetar lma pretrain')")
    tr.add_argument("--unfreeze", action="store_true", help="fine-tune the whole backbone")
    tr.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    pre = lsub.add_parser("pretrain", help="train a backbone on the synthetic corpus",
                          description="Domain pretraining: train a backbone from scratch "
                                      "(all layers) on synthetic seafloor grids; use its "
                                      "best.pt as --weights-path / --pretrained.")
    _lma_common(pre)
    pre.add_argument("--backbone", default="resnet18")
    cmp = lsub.add_parser("compare", help="plain CNN vs transfer vs transfer on diffused",
                          description="The study's three-way comparison on synthetic grids "
                                      "with ship-track gaps and a blocked test split, over "
                                      "seeds; writes compare.csv and compare.json (mean "
                                      "accuracy with 95 % intervals).")
    _lma_common(cmp)
    cmp.add_argument("--backbone", default="resnet18")
    cmp.add_argument("--pretrained", help="checkpoint from 'magnetar lma pretrain'")
    cmp.add_argument("--pretrained-diffused", dest="pretrained_diffused",
                     help="checkpoint from 'magnetar lma pretrain --diffuse' for the transfer "
                          "on diffused grids (default: --pretrained)")
    cmp.add_argument("--imagenet", action="store_true", help="also ImageNet weights")
    cmp.add_argument("--no-cnn", dest="cnn", action="store_false",
                     help="leave the plain CNN out (it needs a GPU to train in reasonable time)")
    cmp.add_argument("--no-baseline", dest="baseline", action="store_false",
                     help="leave the structure-tensor coherence baseline out")
    cmp.add_argument("--seeds", type=_int_list, default=(0, 1, 2), help="e.g. 0,1,2")
    cmp.add_argument("--batch-norm", action="store_true", dest="batch_norm",
                     help="the plain CNN with batch normalisation after each convolution "
                          "(trains in far fewer epochs)")
    cmp.add_argument("--unfreeze", action="store_true",
                     help="fine-tune the whole backbone in the transfer arms instead of "
                          "training the head on frozen features")
    cmp.add_argument("--fine-tune-lr", dest="fine_tune_lr", type=float, default=1e-4,
                     help="Adam learning rate of the fine-tuned transfer arms (1e-4)")
    prd = lsub.add_parser("predict", help="calibrated linear/non-linear map of a grid",
                          description="Classify every window at --stride, give each "
                                      "prediction to its central cell, calibrate uncertain "
                                      "cells (0.3-0.7) from the 25 x 25 neighbouring windows; "
                                      "write probability and class grids (netCDF), the "
                                      "linear percentage and a map PNG.")
    prd.add_argument("grid")
    prd.add_argument("--model", required=True, help="classifier checkpoint (best.pt)")
    prd.add_argument("--out", required=True, help="output netCDF")
    prd.add_argument("--stride", type=int, help="prediction stride (default 10)")
    prd.add_argument("--no-calibration", dest="calibrate", action="store_false")
    prd.add_argument("--calibration-mask", dest="mask",
                     help="grid, > 0 where calibration is off (e.g. across trenches)")
    real = lsub.add_parser("real-tiles", help="map the EMAG2v3 tiles, compare with picks",
                           description="Georeference the EMAG2v3 tiles from their centre "
                                       "table, resample to 2 arc-minutes, map them and "
                                       "compare with the published isochron picks "
                                       "(fraction of picks in linear cells vs fraction of "
                                       "area linear).")
    real.add_argument("--model", required=True)
    real.add_argument("--out", required=True, help="output folder")
    real.add_argument("--stride", type=int)
    swp = lsub.add_parser("sweep", help="linear percentage against window size",
                          description="Predict the grid with several window sizes; write "
                                      "sweep.csv and sweep.png.")
    swp.add_argument("grid")
    swp.add_argument("--model", required=True)
    swp.add_argument("--out", required=True, help="output folder")
    swp.add_argument("--sizes", type=_int_list, default=(150, 200, 250, 300, 350))
    swp.add_argument("--stride", type=int)


def _lma_common(p):
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="TOML file with an [lma] table of options")
    p.add_argument("--diffuse", action="store_true", default=None,
                   help="coherence-diffuse grids before windowing")
    p.add_argument("--split", choices=("blocked", "random"), help="default blocked")
    p.add_argument("--n-grids", type=int, dest="n_grids", help="synthetic grids (default 60)")
    p.add_argument("--grid-size", type=int, dest="grid_size", help="synthetic grid km (500)")
    p.add_argument("--size", type=int, help="window size (250)")
    p.add_argument("--stride", type=int, help="training stride (50)")
    p.add_argument("--epochs", type=int, help="training epochs (25)")
    p.add_argument("--lr", type=float, help="learning rate (1e-3; 3e-2 suits lma_coherence)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (5)")
    p.add_argument("--workers", type=int, help="processes generating grids")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))


def build_parser():
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="magnetar",
        description="Signal processing and deep learning for geomagnetic data.",
    )
    parser.add_argument("--version", action="version", version=f"magnetar {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the main workflow on embedded defaults and write figures",
        description="Clean synthetic multi-observatory data with known interference (always) "
                    "and the Barrow/Deadhorse real data (when MAGNETAR_DATA_DIR holds it); "
                    "write cleaned files, tables and figures.")
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")

    cleaning_cli.add_parser(sub)

    lma = sub.add_parser("lma", help="marine linear magnetic anomalies: grids, windows, "
                                     "CNN / transfer classifiers, calibrated maps",
                         description="Anomaly-grid workflow of the marine study: preprocess "
                                     "grids, cut windows, train classifiers, map regions.")
    lsub = lma.add_subparsers(dest="action", metavar="ACTION")
    pre = lsub.add_parser(
        "preprocess", help="outliers, regridding, SVD denoising, coherence diffusion",
        description="Run any subset of the published preprocessing steps, in order: Tukey "
                    "outliers (--outliers), regridding/gap filling (--regrid), SVD low-rank "
                    "denoising (--svd), coherence-enhancing diffusion (--diffuse). Input: a "
                    "netCDF/GMT grid, a GeoTIFF, a PNG tile, an MGD77+ cruise or a point "
                    "table. Writes OUT (CF netCDF), OUT.config.toml, a figure of the stages and, "
                    "with --intermediates, every stage and removed part.")
    pre.add_argument("grid", help="input grid or points file (never modified)")
    pre.add_argument("--out", required=True, help="output netCDF path")
    pre.add_argument("--config", help="TOML file with a [preprocess] table of options")
    pre.add_argument("--outliers", nargs="?", const=1.5, type=float, default=None, metavar="C",
                     help="remove values outside [Q1 - C IQR, Q3 + C IQR] (C default 1.5)")
    pre.add_argument("--regrid", type=float, dest="regrid_spacing", metavar="SPACING",
                     help="grid/re-grid at this spacing (coordinate units, e.g. degrees)")
    pre.add_argument("--regrid-method", dest="regrid_method",
                     choices=("spline", "cubic", "linear", "nearest", "surface"),
                     help="gridding method (default spline)")
    pre.add_argument("--svd", type=float, dest="svd_energy", metavar="ENERGY",
                     help="SVD denoising keeping this energy fraction (e.g. 0.98)")
    pre.add_argument("--svd-rank", type=int, dest="svd_rank", help="keep exactly k values")
    pre.add_argument("--diffuse", metavar="SIGMA,RHO,T",
                     help="coherence-enhancing diffusion with noise scale, integration scale "
                          "and diffusion time, e.g. 1,6,5")
    pre.add_argument("--backend", choices=("numpy", "torch"), help="diffusion backend")
    pre.add_argument("--chunks", type=int, help="diffuse in chunks of N x N nodes (Dask)")
    pre.add_argument("--intermediates", action="store_true", help="write every stage")
    pre.add_argument("--no-figure", action="store_true", help="skip the stages figure")
    _add_lma_classification(lsub)

    synth = sub.add_parser("synth", help="physics-based synthetic data with ground truth")
    ssub = synth.add_subparsers(dest="action", metavar="ACTION")
    sea = ssub.add_parser(
        "seafloor", help="seafloor-spreading anomaly grids with linear/non-linear labels",
        description="Write labelled synthetic marine anomaly grids (netCDF: anomaly, "
                    "anomaly_clean, linear, age, polarity, magnetization, regime) from "
                    "spreading, a polarity time scale and the Fourier layer method.")
    sea.add_argument("--out", required=True, help="output folder")
    sea.add_argument("-n", type=int, default=4, help="number of grids (default 4)")
    sea.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    sea.add_argument("--config", help="TOML file with a [seafloor] table of options")
    sea.add_argument("--size", type=int, help="grid size in nodes (square)")
    sea.add_argument("--spacing-km", type=float, dest="spacing_km", help="node spacing in km")
    sea.add_argument("--noise", type=float, dest="noise_nT", help="noise in nT")
    sea.add_argument("--timescale", choices=("CK95", "GK2007", "GTS2004", "GTS2012"),
                     help="polarity time scale (default CK95)")
    sea.add_argument("--tracks", type=int,
                     help="sample along N random ship tracks and regrid (anomaly then has "
                          "gaps; the full grid is kept as anomaly_full)")
    sea.add_argument("--track-gridding", dest="track_gridding",
                     choices=("cubic", "linear", "nearest", "spline", "surface"),
                     help="gridding method for the tracks (default cubic)")

    crowd = sub.add_parser(
        "crowdmag", help="CrowdMag: denoising autoencoder for smartphone magnetometer data",
        description="Train, evaluate and tune an autoencoder on clean anomaly tiles "
                    "(Britain survey, EMAG2v3 tiles, synthetic seafloor) corrupted with noise "
                    "and masking, then reconstruct CrowdMag recordings.")
    csub = crowd.add_subparsers(dest="action", metavar="ACTION")
    tr = csub.add_parser("train", help="train an autoencoder (checkpoints, history, figure)",
                         description="Train on clean tiles corrupted on the fly; resumable.")
    ev = csub.add_parser("evaluate",
                         help="model vs nearest/linear/Gaussian/spline/thin-plate gap filling",
                         description="Metrics (MAE, RMSE, PSNR, SSIM, KL, Wasserstein) on "
                                     "held-out tiles at 25/50/75 %% masking.")
    se = csub.add_parser("search", help="Optuna search over the published hyperparameters",
                         description="Random or grid search (dense AE) over epochs, layers, "
                                     "loss, optimiser, tile size, encoding, randomization and "
                                     "masking; writes search.csv and search.json.")
    de = csub.add_parser("denoise", help="reconstruct CrowdMag recordings",
                         description="CrowdMag CSV -> anomaly (IGRF, observatory, device "
                                     "offset) -> sparse tile -> reconstruction (netCDF, PNG).")
    for p in (tr, ev, se, de):
        p.add_argument("--out", required=True, help="output folder")
    for p in (tr, ev, se):
        p.add_argument("--tile-km", type=float, default=120.0, dest="tile_km",
                       help="tile side in km (default 120)")
        p.add_argument("--tile-px", type=int, default=32, dest="tile_px",
                       help="tile side in pixels (default 32)")
        p.add_argument("--randomization", type=int, default=150,
                       help="random clean tiles per source grid (default 150)")
        p.add_argument("--sources", type=lambda v: tuple(v.split(",")),
                       default=("britain", "emag2v3", "seafloor"),
                       help="clean tile sources (default britain,emag2v3,seafloor)")
        p.add_argument("--oversample", type=_factors, default={"britain": 10},
                       help="SOURCE=FACTOR,... tiles drawn per grid = randomization x factor "
                            "(default britain=10: the real survey the test region is cut "
                            "from; 'none' for none)")
        p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    tr.add_argument("--model", default="conv_masked_ae",
                    help="registered model: conv_masked_ae (default) or dense_ae")
    tr.add_argument("--epochs", type=int, default=40, help="epochs (default 40)")
    tr.add_argument("--batch-size", type=int, default=64, dest="batch_size")
    tr.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    tr.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    tr.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                    dest="lr_schedule", help="cosine: anneal the rate to 0 over the epochs")
    tr.add_argument("--loss", choices=("mae", "mse"), default="mae")
    tr.add_argument("--loss-on", choices=("all", "known"), default="all", dest="loss_on",
                    help="pixels the loss is computed on (default all)")
    tr.add_argument("--loss-units", choices=("tile", "nT"), default="nT", dest="loss_units",
                    help="nT (default): errors weighted by each tile's scale, like the "
                         "evaluation's MAE; tile: in each tile's normalised units")
    tr.add_argument("--distribution-weight", type=float, default=0.0,
                    dest="distribution_weight",
                    help="weight of the 1-D Wasserstein term in the loss (default 0)")
    tr.add_argument("--mask", type=float, default=0.5, help="masked fraction (default 0.5)")
    tr.add_argument("--mask-kind", choices=("random", "tracks"), default="random",
                    dest="mask_kind")
    tr.add_argument("--noise", type=float, default=10.0,
                    help="noise in nT per pixel (default 10: a phone's ~107 nT per sample "
                         "averaged over ~100 samples per pixel)")
    tr.add_argument("--noise-from", nargs="+", dest="noise_from", metavar="CSV",
                    help="set --noise from the device: its noise per sample measured on these "
                         "stationary CrowdMag recordings, divided by sqrt(--samples-per-pixel)")
    tr.add_argument("--samples-per-pixel", type=float, default=100.0,
                    dest="samples_per_pixel",
                    help="measurements averaged in a pixel, for --noise-from (default 100; "
                         "'crowdmag denoise' reports it per recording)")
    tr.add_argument("--encoding", type=int, help="dense_ae encoding dimension (default 50)")
    tr.add_argument("--hidden", type=lambda v: tuple(int(x) for x in v.split(",")),
                    help="dense_ae hidden widths, e.g. 512 or 512,256")
    tr.add_argument("--base", type=int, help="conv_masked_ae base channels (default 32)")
    tr.add_argument("--prior-scales", type=lambda v: tuple(float(x) for x in v.split(",")),
                    dest="prior_scales",
                    help="conv_masked_ae normalised-convolution prior widths in pixels, "
                         "e.g. 1,2,4 (default none)")
    tr.add_argument("--thin-plate", type=_float_list_or_none, dest="thin_plate",
                    default=(0.05, 0.5),
                    help="conv_masked_ae thin-plate smoothing-spline prior weights; the "
                         "network learns the residual on the first (default 0.05,0.5; "
                         "'none' for a plain network)")
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ev.add_argument("checkpoint", help="a best.pt or last.pt written by 'crowdmag train'")
    ev.add_argument("--baselines", type=lambda v: tuple(v.split(",")),
                    default=("nearest", "linear", "gaussian", "spline", "thin_plate"))
    ev.add_argument("--eval-source", default="britain", dest="eval_source",
                    help="held-out source reported (default britain: real survey data)")
    se.add_argument("--trials", type=int, default=20, help="number of trials (default 20)")
    se.add_argument("--sampler", choices=("random", "grid"), default="random")
    se.add_argument("--epochs-scale", type=float, default=1.0, dest="epochs_scale",
                    help="multiply every trial's epochs (e.g. 0.2 for a quick look)")
    de.add_argument("files", nargs="+", help="CrowdMag CSV exports")
    de.add_argument("--checkpoint", required=True, help="trained model (best.pt)")
    de.add_argument("--tile-km", type=float, default=120.0, dest="tile_km",
                    help="tile side in km (default 120; a walk of a few km needs ~2)")
    de.add_argument("--observatory", nargs="*", default=(),
                    help="IAGA-2002 X/Y/Z variation files of nearby observatories")
    for p in (ev, de):
        p.add_argument("--no-tta", action="store_false", dest="tta",
                       help="one model pass per tile instead of the average over its eight "
                            "rotations and mirror images (test-time augmentation, the "
                            "default: lower error, 8x the inference time)")

    iar = sub.add_parser(
        "iar", help="IAR detection: spectrograms, U-Net fringe masks, resonance parameters",
        description="Ionospheric Alfven Resonance fringes in search-coil spectrograms: "
                    "band-pass + Welch spectrograms, labelled synthetic nights, U-Net "
                    "training/prediction, resonance frequencies f_n and spacing delta_f.")
    isub = iar.add_subparsers(dest="action", metavar="ACTION")
    ispec = isub.add_parser("spectrogram", help="time series -> spectrogram netCDF/PNG per night",
                            description="Read miniSEED, IAGA-2002, .npy or text; zero-phase "
                                        "Butterworth band-pass; Welch per segment; split "
                                        "into nights.")
    ispec.add_argument("files", nargs="+", help="time-series files")
    ispec.add_argument("--out", required=True, help="output folder")
    ispec.add_argument("--band", type=lambda v: tuple(float(x) for x in v.split(",")),
                       default=(0.5, 10.0), help="band-pass in Hz (default 0.5,10)")
    ispec.add_argument("--order", type=int, default=4, help="Butterworth order (default 4)")
    ispec.add_argument("--segment-s", type=float, default=100.0, dest="segment_s",
                       help="spectrogram column length in s (default 100: 864 per day)")
    ispec.add_argument("--nfft", type=int, default=4096, help="FFT length (default 4096)")
    ispec.add_argument("--overlap", type=float, default=0.5,
                       help="Welch window overlap fraction (default 0.5)")
    ispec.add_argument("--night", default="18:00,06:00",
                       help="night start,end in UT (default 18:00,06:00)")
    ispec.add_argument("--sampling-rate", type=float, dest="sampling_rate",
                       help="Hz, for .npy and text files")
    isyn = isub.add_parser("synth", help="labelled synthetic nights (netCDF, optional PNG)",
                           description="IAR fringes, 1/f background, Schumann, Pc1, lines, "
                                       "impulses and gaps, with exact pixel labels and "
                                       "f_n(t), delta_f(t).")
    isyn.add_argument("--out", required=True, help="output folder")
    isyn.add_argument("-n", type=int, default=8, help="number of nights (default 8)")
    isyn.add_argument("--png", action="store_true", help="also write PNG images and masks")
    itr = isub.add_parser("train", help="train the U-Net on synthetic or hand-labelled nights",
                          description="BCE (+ Dice) training with augmentation; threshold "
                                      "chosen on validation nights; resumable.")
    itr.add_argument("--out", required=True, help="output folder")
    itr.add_argument("--nights", type=int, default=178, help="training nights (default 178)")
    itr.add_argument("--val-nights", type=int, default=32, dest="val_nights")
    itr.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    itr.add_argument("--batch-size", type=int, default=4, dest="batch_size")
    itr.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    itr.add_argument("--optimizer", choices=("adam", "sgd", "rmsprop"), default="adam")
    itr.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                     dest="lr_schedule", help="cosine: anneal the rate to 0 over the epochs")
    itr.add_argument("--loss", choices=("bce", "bce_dice"), default="bce_dice")
    itr.add_argument("--edge-weight", type=float, default=0.0, dest="edge_weight",
                     help="extra cross-entropy weight on pixels within one pixel of a fringe "
                          "edge (default 0: plain)")
    itr.add_argument("--base", type=int, default=64, help="U-Net base channels (default 64)")
    itr.add_argument("--depth", type=int, default=4, help="U-Net levels (default 4)")
    itr.add_argument("--dropout", type=float, default=0.1)
    itr.add_argument("--init", default="he_normal", help="weight initialiser (default he_normal)")
    itr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    itr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    itr.add_argument("--init-from", default="", dest="init_from",
                     help="checkpoint of the same architecture to start from (fine-tuning, "
                          "e.g. the shipped model on hand-labelled real nights)")
    itr.add_argument("--labelled", default="",
                     help="folder of hand-labelled nights, NAME.png with NAME_mask.png (fringes "
                          "white; any size, brought to the first one's): trained on instead of "
                          "synthetic nights")
    itr.add_argument("--val-fraction", type=float, default=0.2, dest="val_fraction",
                     help="share of the labelled nights kept for validation and the threshold "
                          "(default 0.2)")
    ipr = isub.add_parser("predict", help="fringe probability and mask for a spectrogram",
                          description="Batched prediction (GPU with mixed precision when "
                                      "present) with the input's coordinates.")
    ipr.add_argument("spectrogram", help="netCDF with a 'spectrogram' (frequency, time)")
    ipr.add_argument("--model", required=True, help="best.pt written by 'iar train'")
    ipr.add_argument("--out", required=True, help="output netCDF")
    ipa = isub.add_parser("params", help="resonance frequencies f_n and spacing delta_f",
                          description="Per time step fringe centres and spacing (spectral "
                                      "autocorrelation), smoothed; CSV, netCDF and figure.")
    ipa.add_argument("prediction", help="netCDF written by 'iar predict'")
    ipa.add_argument("--out", required=True, help="output CSV (netCDF and PNG beside it)")
    iev = isub.add_parser("evaluate", help="held-out synthetic evaluation vs the baseline",
                          description="IoU/Dice/precision/recall of the U-Net and the "
                                      "peak-detection baseline on nights with other seeds "
                                      "and wider ranges, negative control, delta_f error.")
    iev.add_argument("model", help="best.pt written by 'iar train'")
    iev.add_argument("--out", required=True, help="output folder")
    iev.add_argument("-n", type=int, default=64, help="test nights (default 64)")
    iev.add_argument("--negative", type=int, default=32, help="nights without IARs (default 32)")
    for p in (isyn, itr, iev):
        p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
        p.add_argument("--workers", type=int, default=1,
                       help="processes generating synthetic nights (default 1)")

    data = sub.add_parser("datasets", help="list, fetch or locate registered real data files",
                          description="Real data files are registered with their public origin "
                                      "and SHA-256; MAGNETAR_DATA_DIR is read first.")
    dsub = data.add_subparsers(dest="action", metavar="ACTION")
    lst = dsub.add_parser("list", help="list registered files")
    lst.add_argument("prefix", nargs="?", default="", help="only names starting with this")
    for name, text in (("fetch", "download (or find locally) and verify files"),
                       ("path", "print the local path of files")):
        p = dsub.add_parser(name, help=text)
        p.add_argument("names", nargs="+", help="registered names (see 'datasets list')")
    return parser


def _configure_logging(verbosity):
    level = logging.WARNING - 10 * min(verbosity + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _cmd_demo(args):
    from .demo import run_demo

    report = run_demo(args.out, progress=sys.stderr.isatty())
    print(json.dumps(report, indent=2, default=str))  # noqa: T201
    print(f"demo outputs written to {args.out}/")  # noqa: T201
    return 0


def _cmd_lma(args, parser):
    from .config import load_config
    from .workflows.lma.preprocess import PreprocessConfig, run_preprocess

    if args.action in ("windows", "label-export", "train", "pretrain", "compare", "predict",
                       "sweep", "real-tiles"):
        return _cmd_lma_classification(args)
    if args.action != "preprocess":
        parser.parse_args(["lma", "--help"])
        return 2
    overrides = {key: getattr(args, key) for key in (
        "outliers", "regrid_spacing", "regrid_method", "svd_energy", "svd_rank", "backend",
        "chunks")}
    if args.diffuse:
        try:
            sigma, rho, time = (float(v) for v in args.diffuse.split(","))
        except ValueError:
            msg = f"--diffuse expects SIGMA,RHO,T (three numbers), got {args.diffuse!r}"
            raise ConfigError(msg) from None
        overrides.update(diffuse=True, sigma=sigma, rho=rho, time=time)
    config = load_config(PreprocessConfig, args.config, overrides=overrides,
                         section="preprocess")
    written = run_preprocess(args.grid, args.out, config, intermediates=args.intermediates,
                             figure=not args.no_figure)
    for key, path in written.items():
        print(f"{key}: {path}")  # noqa: T201
    return 0


def _cmd_lma_classification(args):
    from .config import load_config
    from .workflows.lma import run as lma

    if args.action == "windows":
        table = lma.run_windows(args.grid, args.out, size=args.size, stride=args.stride)
        print(f"{len(table)} windows written to {args.out}")  # noqa: T201
        return 0
    if args.action == "label-export":
        config = lma.LMAConfig(size=args.size, stride=args.stride)
        table = lma.run_label_export(args.grid, args.out, config, limit=args.limit)
        print(f"{len(table)} window PNGs and windows.csv written to {args.out}/")  # noqa: T201
        return 0
    if args.action == "predict":
        report = lma.run_predict(args.grid, args.model, args.out, stride=args.stride,
                                 calibrate=args.calibrate, mask_path=args.mask,
                                 progress=sys.stderr.isatty())
        print(json.dumps(report, indent=2))  # noqa: T201
        return 0
    if args.action == "real-tiles":
        report = lma.run_real_tiles(args.model, args.out, stride=args.stride,
                                    progress=sys.stderr.isatty())
        print(json.dumps(report, indent=2))  # noqa: T201
        return 0
    if args.action == "sweep":
        table = lma.run_sweep(args.grid, args.model, args.out, sizes=args.sizes,
                              stride=args.stride, progress=sys.stderr.isatty())
        print(table.to_string(index=False))  # noqa: T201
        return 0
    overrides = {k: getattr(args, k) for k in ("diffuse", "split", "n_grids", "grid_size",
                                               "size", "stride", "workers", "seed")}
    config = load_config(lma.LMAConfig, args.config, overrides=overrides, section="lma")
    train = dict(config.train)
    for key in ("epochs", "device", "lr", "patience"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    if args.action == "train":
        kwargs = {"batch_norm": True} if args.batch_norm else {}
        if args.model not in ("lma_cnn", "lma_coherence"):
            kwargs = {"freeze": not args.unfreeze}
            if args.weights:
                kwargs["weights"] = args.weights
            if args.weights_path:
                kwargs["weights_path"] = args.weights_path
        train.update(model=args.model, model_kwargs=kwargs)
    config = lma.replace(config, train=train)
    progress = sys.stderr.isatty()
    if args.action == "train":
        report = lma.run_train(args.out, config, grids=args.grids, labels=args.labels,
                               resume=args.resume, progress=progress)
    elif args.action == "pretrain":
        report = lma.run_pretrain(args.out, config, backbone=args.backbone, progress=progress)
    else:
        _, report = lma.run_compare(args.out, config, seeds=args.seeds,
                                    backbone=args.backbone, pretrained_path=args.pretrained,
                                    pretrained_diffused_path=args.pretrained_diffused,
                                    imagenet=args.imagenet, baseline=args.baseline,
                                    cnn=args.cnn, cnn_batch_norm=args.batch_norm,
                                    unfreeze=args.unfreeze, fine_tune_lr=args.fine_tune_lr,
                                    progress=progress)
    print(json.dumps(report, indent=2, default=str))  # noqa: T201
    return 0


def _cmd_synth(args, parser):
    from .config import load_config
    from .synthetic import SeafloorConfig
    from .workflows.lma.preprocess import run_synth_seafloor

    if args.action != "seafloor":
        parser.parse_args(["synth", "--help"])
        return 2
    overrides = {"spacing_km": args.spacing_km, "noise_nT": args.noise_nT,
                 "timescale": args.timescale, "tracks": args.tracks,
                 "track_gridding": args.track_gridding,
                 "shape": None if args.size is None else (args.size, args.size)}
    config = load_config(SeafloorConfig, args.config, overrides=overrides, section="seafloor")
    written = run_synth_seafloor(args.out, n=args.n, seed=args.seed, config=config)
    print(f"{len(written)} files written to {args.out}/")  # noqa: T201
    return 0


def _crowdmag_config(args):
    from .workflows.crowdmag.run import AEConfig

    train = {}
    if args.action == "train":
        kwargs = {k: getattr(args, k) for k in ("encoding", "hidden", "base", "prior_scales")
                  if getattr(args, k) is not None}
        if args.model == "conv_masked_ae" and args.thin_plate:
            kwargs["thin_plate"] = args.thin_plate
        train = {"model": args.model, "model_kwargs": kwargs, "epochs": args.epochs,
                 "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
                 "lr_schedule": args.lr_schedule, "loss": args.loss, "loss_on": args.loss_on,
                 "loss_units": args.loss_units,
                 "distribution_weight": args.distribution_weight, "seed": args.seed,
                 "device": args.device,
                 "corruption": {"mask_fraction": args.mask, "noise_nT": args.noise,
                                "mask_kind": args.mask_kind}}
    return AEConfig(tile_km=args.tile_km, tile_px=args.tile_px,
                    randomization=args.randomization, sources=args.sources,
                    oversample=args.oversample, seed=args.seed,
                    eval_source=getattr(args, "eval_source", "britain"), train=train)


def _cmd_crowdmag(args, parser):
    from .workflows.crowdmag import run as cm

    progress = sys.stderr.isatty()
    if args.action == "train":
        if args.noise_from:
            per_sample, _ = cm.device_noise(args.noise_from)
            args.noise = cm.pixel_noise(per_sample, samples_per_pixel=args.samples_per_pixel)
            line = (f"device noise {per_sample:.1f} nT per sample -> {args.noise:.2f} nT per "
                    f"pixel of {args.samples_per_pixel:g} samples")
            print(line)  # noqa: T201
        _, history, written = cm.run_train(args.out, _crowdmag_config(args), resume=args.resume,
                                           progress=progress)
        best = min(h["val_loss"] for h in history)
        print(f"{len(history)} epochs, best validation loss {best:.4f}; "  # noqa: T201
              f"checkpoint {written['checkpoint']}")
        return 0
    if args.action == "evaluate":
        table, written = cm.run_evaluate(args.checkpoint, args.out, _crowdmag_config(args),
                                         baselines=args.baselines, tta=args.tta)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))  # noqa: T201
        return 0
    if args.action == "search":
        _, best = cm.run_search(args.out, _crowdmag_config(args), n_trials=args.trials,
                                sampler=args.sampler, epochs_scale=args.epochs_scale,
                                progress=progress)
        print(json.dumps(best, indent=1))  # noqa: T201
        return 0
    if args.action == "denoise":
        observatories = ()
        if args.observatory:
            from .io import read_stations

            observatories = tuple(read_stations(args.observatory).values())
        table = cm.run_denoise(args.files, args.out, checkpoint=args.checkpoint,
                               tile_km=args.tile_km, observatories=observatories,
                               tta=args.tta, progress=progress)
        print(table.drop(columns=["netcdf"]).to_string(index=False))  # noqa: T201
        return 0
    parser.parse_args(["crowdmag", "--help"])
    return 2


def _cmd_iar(args, parser):
    from .workflows.iar import run as iar

    progress = sys.stderr.isatty()
    if args.action == "spectrogram":
        start, _, end = args.night.partition(",")
        written = iar.run_spectrogram(args.files, args.out, low=args.band[0],
                                      high=args.band[1], order=args.order,
                                      segment_s=args.segment_s, nfft=args.nfft,
                                      overlap=args.overlap, night_start=start, night_end=end,
                                      sampling_rate=args.sampling_rate, progress=progress)
        for path in written:
            print(path)  # noqa: T201
        return 0
    config = iar.IARPipelineConfig(seed=getattr(args, "seed", 0),
                                   workers=getattr(args, "workers", 1))
    if args.action == "synth":
        print(iar.run_synth(args.out, n=args.n, config=config, seed=args.seed,  # noqa: T201
                            png=args.png, progress=progress))
        return 0
    if args.action == "train":
        config.n_train, config.n_val = args.nights, args.val_nights
        config = dataclasses.replace(config, labelled=args.labelled,  # validates
                                     val_fraction=args.val_fraction)
        config.train = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                        "optimizer": args.optimizer, "lr_schedule": args.lr_schedule,
                        "loss": args.loss, "edge_weight": args.edge_weight,
                        "seed": args.seed, "device": args.device,
                        "init_from": args.init_from,
                        "model_kwargs": {"base": args.base, "depth": args.depth,
                                         "dropout": args.dropout, "init": args.init}}
        _, history, written = iar.run_train(args.out, config, resume=args.resume,
                                            progress=progress)
        print(f"{len(history)} epochs, validation IoU {history[-1]['val_iou']:.3f}, "  # noqa: T201
              f"threshold {written['threshold']}; checkpoint {written['checkpoint']}")
        return 0
    if args.action == "predict":
        iar.run_predict(args.spectrogram, args.model, args.out, progress=progress)
        print(args.out)  # noqa: T201
        return 0
    if args.action == "params":
        _, written = iar.run_params(args.prediction, args.out)
        for path in written.values():
            print(path)  # noqa: T201
        return 0
    if args.action == "evaluate":
        summary, _ = iar.run_evaluate(args.model, args.out, config, n=args.n,
                                      n_negative=args.negative, progress=progress)
        print(json.dumps(summary, indent=1))  # noqa: T201
        return 0
    parser.parse_args(["iar", "--help"])
    return 2


def _cmd_datasets(args, parser):
    from . import datasets

    if args.action == "list":
        for name in datasets.list_files(args.prefix):
            entry = datasets.registry()[name]
            mark = "local" if datasets.is_available(name) else "remote"
            print(f"{name}\t{entry.size}\t{mark}\t{entry.repo}@{entry.commit[:10]}")  # noqa: T201
        return 0
    if args.action in ("fetch", "path"):
        for name in args.names:
            path = datasets.fetch(name, download=args.action == "fetch")
            print(path)  # noqa: T201
        return 0
    parser.parse_args(["datasets", "--help"])
    return 2


def main(argv=None):
    """Entry point of the ``magnetar`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            return _cmd_demo(args)
        if getattr(args, "handler", None) is not None:
            return args.handler(args)
        if args.command == "lma":
            return _cmd_lma(args, parser)
        if args.command == "synth":
            return _cmd_synth(args, parser)
        if args.command == "crowdmag":
            return _cmd_crowdmag(args, parser)
        if args.command == "iar":
            return _cmd_iar(args, parser)
        return _cmd_datasets(args, parser)
    except MagnetarError as err:
        print(f"magnetar: error: {err}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
