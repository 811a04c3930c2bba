"""``magnetar lma`` and ``magnetar synth``: the marine linear-anomaly workflow's commands."""

from __future__ import annotations

import argparse
import json
import sys

from ...errors import ConfigError

__all__ = ["add_parser", "add_synth_parser"]


def _int_list(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _add_compare_arguments(parser):
    """Options of ``lma compare``."""
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--pretrained", help="checkpoint from 'magnetar lma pretrain'")
    parser.add_argument("--pretrained-diffused", dest="pretrained_diffused",
                     help="checkpoint from 'magnetar lma pretrain --diffuse' for the transfer "
                          "on diffused grids (default: --pretrained)")
    parser.add_argument("--imagenet", action="store_true", help="also ImageNet weights")
    parser.add_argument("--no-cnn", dest="cnn", action="store_false",
                     help="leave the plain CNN out (it needs a GPU to train in reasonable time)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                     help="leave the structure-tensor coherence baseline out")
    parser.add_argument("--seeds", type=_int_list, default=(0, 1, 2), help="e.g. 0,1,2")
    parser.add_argument("--batch-norm", action="store_true", dest="batch_norm",
                     help="the plain CNN with batch normalisation after each convolution "
                          "(trains in far fewer epochs)")
    parser.add_argument("--unfreeze", action="store_true",
                     help="fine-tune the whole backbone in the transfer arms instead of "
                          "training the head on frozen features")
    parser.add_argument("--fine-tune-lr", dest="fine_tune_lr", type=float, default=1e-4,
                     help="Adam learning rate of the fine-tuned transfer arms (1e-4)")


def _add_train_arguments(parser):
    """Options of ``lma train``."""
    parser.add_argument("--model", default="lma_cnn",
                    help="registered model: lma_cnn (the study's CNN), lma_coherence (classical "
                         "structure-tensor baseline, trains in seconds on a CPU), lma_texture "
                         "(coherence + spectral + amplitude-shape features, for real grids), or a "
                         "backbone: vgg19, resnet18, mobilenet_v2, ... (default lma_cnn)")
    parser.add_argument("--batch-norm", action="store_true", dest="batch_norm",
                    help="lma_cnn with batch normalisation after each convolution")
    parser.add_argument("--grids", nargs="*", help="real grids to train on")
    parser.add_argument("--labels", nargs="*", help="label CSVs, one per grid")
    parser.add_argument("--weights", choices=("imagenet",), help="pretrained ImageNet weights")
    parser.add_argument("--weights-path", dest="weights_path",
                    help="local weights: torchvision state dict or a magnetar checkpoint "
                         "(e.g. from 'magnetar lma pretrain')")
    parser.add_argument("--unfreeze", action="store_true", help="fine-tune the whole backbone")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")


def _add_real_grid_parsers(lsub):
    """``lma real-tiles`` and ``lma weak-eval``."""
    real = lsub.add_parser("real-tiles", help="map the EMAG2v3 tiles, compare with picks",
                           description="Georeference the EMAG2v3 tiles from their centre "
                                       "table, resample to 2 arc-minutes, map them and "
                                       "compare with the published isochron picks "
                                       "(fraction of picks in linear cells vs fraction of "
                                       "area linear).")
    real.add_argument("--model", help="classifier checkpoint or shipped model name "
                                      "(default: the shipped lma_texture.pt)")
    real.add_argument("--out", required=True, help="output folder")
    real.add_argument("--stride", type=int)
    weak = lsub.add_parser(
        "weak-eval", help="score classifiers on weak-labelled real EMAG2v3 windows",
        description="Label the EMAG2v3 tiles' windows from the ocean-crust age grid (linear: "
                    "oceanic crust of reversal-rich age; non-linear: continental; the rest "
                    "ambiguous) and score each model: ROC-AUC with a block-bootstrap 95 %% "
                    "interval, paired differences between models, accuracy at 0.5 and the "
                    "share called linear per tile. A test set only: never train or tune on "
                    "it. Writes weak_eval.json.")
    weak.add_argument("--model", action="append", required=True, metavar="[NAME=]PATH",
                      help="a checkpoint or shipped model name; repeat for several")
    weak.add_argument("--out", required=True, help="output folder")
    weak.add_argument("--sizes", type=_int_list, default=(64, 128, 250),
                      help="window sizes in nodes of the 2 arc-minute lattice (64,128,250)")
    weak.add_argument("--stride", type=int, help="window stride (default: size / 10)")
    weak.add_argument("--boot", type=int, default=1000, help="bootstrap replicates (1000)")


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
    _add_train_arguments(tr)
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
    _add_compare_arguments(cmp)
    prd = lsub.add_parser("predict", help="calibrated linear/non-linear map of a grid",
                          description="Classify every window at --stride, give each "
                                      "prediction to its central cell, calibrate uncertain "
                                      "cells (0.3-0.7) from the 25 x 25 neighbouring windows; "
                                      "write probability and class grids (netCDF), the "
                                      "linear percentage and a map PNG.")
    prd.add_argument("grid")
    prd.add_argument("--model", help="classifier checkpoint (best.pt) or shipped model name "
                                     "(default: the shipped lma_texture.pt)")
    prd.add_argument("--out", required=True, help="output netCDF")
    prd.add_argument("--stride", type=int, help="prediction stride (default 10)")
    prd.add_argument("--no-calibration", dest="calibrate", action="store_false")
    prd.add_argument("--calibration-mask", dest="mask",
                     help="grid, > 0 where calibration is off (e.g. across trenches)")
    big = prd.add_argument_group("grids larger than memory (Dask; the same map)")
    big.add_argument("--chunks", type=int, help="read and process the grid lazily in chunks "
                                                "of this many nodes a side (e.g. 2048)")
    big.add_argument("--workers", type=int, default=1,
                     help="local Dask worker processes for the windows (default 1)")
    big.add_argument("--scheduler", help="address of an existing Dask scheduler")
    _add_real_grid_parsers(lsub)
    swp = lsub.add_parser("sweep", help="linear percentage against window size",
                          description="Predict the grid with several window sizes; write "
                                      "sweep.csv and sweep.png.")
    swp.add_argument("grid")
    swp.add_argument("--model", required=True)
    swp.add_argument("--out", required=True, help="output folder")
    swp.add_argument("--sizes", type=_int_list, default=(150, 200, 250, 300, 350))
    swp.add_argument("--stride", type=int)


def _named_model(text):
    """``NAME=PATH`` or ``PATH`` (named after its run folder) -> (name, path)."""
    from .run import resolve_model

    name, _, path = text.rpartition("=")
    path = resolve_model(path)
    if not name:
        name = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
    return name, path


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


def add_parser(sub):
    """Add ``lma`` to the top-level sub-parsers."""
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
    pre.add_argument("--outlier-window", type=int, dest="outlier_window", metavar="N",
                     help="quartiles local to blocks of N x N nodes (each measured with half "
                          "a block around it; default 101; 0: one global fence, as published)")
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

    lma.set_defaults(handler=_cmd_lma)
    return lma


def add_synth_parser(sub):
    """Add ``synth`` (synthetic seafloor grids) to the top-level sub-parsers."""
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
    synth.set_defaults(handler=_cmd_synth)
    return synth


def _cmd_lma(args, parser):
    from ...config import load_config
    from .preprocess import PreprocessConfig, run_preprocess

    if args.action in ("windows", "label-export", "train", "pretrain", "compare", "predict",
                       "sweep", "real-tiles", "weak-eval"):
        return _cmd_lma_classification(args)
    if args.action != "preprocess":
        parser.parse_args(["lma", "--help"])
        return 2
    overrides = {key: getattr(args, key) for key in (
        "outliers", "outlier_window", "regrid_spacing", "regrid_method", "svd_energy",
        "svd_rank", "backend", "chunks")}
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
    from ...config import load_config
    from . import run as lma

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
                                 progress=sys.stderr.isatty(), chunks=args.chunks,
                                 workers=args.workers, scheduler=args.scheduler)
        print(json.dumps(report, indent=2))  # noqa: T201
        return 0
    if args.action == "real-tiles":
        report = lma.run_real_tiles(args.model, args.out, stride=args.stride,
                                    progress=sys.stderr.isatty())
        print(json.dumps(report, indent=2))  # noqa: T201
        return 0
    if args.action == "weak-eval":
        from ..._utils import check_number
        from .weak import run_weak_eval

        check_number(args.boot, option="--boot", minimum=10, integer=True)
        models = dict(_named_model(m) for m in args.model)
        report = run_weak_eval(models, args.out, sizes=args.sizes, stride=args.stride,
                               n_boot=args.boot, progress=sys.stderr.isatty())
        print(json.dumps(report, indent=2, default=str))  # noqa: T201
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
        if args.model not in ("lma_cnn", "lma_coherence", "lma_texture"):
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
    from ...config import load_config
    from ...synthetic import SeafloorConfig
    from .preprocess import run_synth_seafloor

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
