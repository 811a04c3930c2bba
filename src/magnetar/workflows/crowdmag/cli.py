"""``magnetar crowdmag``: the CrowdMag denoising workflow's commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["add_parser"]


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


def _add_train_arguments(parser):
    """Options of ``crowdmag train`` (each defaults to None: AEConfig decides)."""
    parser.add_argument("--model",
                    help="registered model: conv_masked_ae (default) or dense_ae")
    parser.add_argument("--epochs", type=int, help="epochs (default 40)")
    parser.add_argument("--batch-size", type=int, dest="batch_size", help="default 64")
    parser.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), help="default adam")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"),
                    dest="lr_schedule", help="cosine: anneal the rate to 0 over the epochs")
    parser.add_argument("--loss", choices=("mae", "mse"), help="default mae")
    parser.add_argument("--loss-on", choices=("all", "known"), dest="loss_on",
                    help="pixels the loss is computed on (default all)")
    parser.add_argument("--loss-units", choices=("tile", "nT"), dest="loss_units",
                    help="nT (default): errors weighted by each tile's scale, like the "
                         "evaluation's MAE; tile: in each tile's normalised units")
    parser.add_argument("--distribution-weight", type=float, dest="distribution_weight",
                    help="weight of the 1-D Wasserstein term in the loss (default 0)")
    parser.add_argument("--mask", type=float, help="masked fraction (default 0.5)")
    parser.add_argument("--mask-kind", choices=("random", "tracks"), dest="mask_kind",
                    help="default random")
    parser.add_argument("--mask-max", type=float, dest="mask_max",
                    help="draw each tile's masked fraction uniformly between --mask and this "
                         "(recordings differ in coverage)")
    parser.add_argument("--noise", type=float,
                    help="noise in nT per pixel (default 10: a phone's ~107 nT per sample "
                         "averaged over ~100 samples per pixel)")
    parser.add_argument("--noise-max", type=float, dest="noise_max",
                    help="draw each tile's noise uniformly between --noise and this (one "
                         "device per tile; e.g. --noise 30 --noise-max 140, the measured "
                         "range)")
    parser.add_argument("--noise-from", nargs="+", dest="noise_from", metavar="CSV",
                    help="set --noise from the device: its noise per sample measured on these "
                         "stationary CrowdMag recordings, divided by sqrt(--samples-per-pixel)")
    parser.add_argument("--samples-per-pixel", type=float, default=100.0,
                    dest="samples_per_pixel",
                    help="measurements averaged in a pixel, for --noise-from (default 100; "
                         "'crowdmag denoise' reports it per recording)")
    parser.add_argument("--encoding", type=int, help="dense_ae encoding dimension (default 50)")
    parser.add_argument("--hidden", type=lambda v: tuple(int(x) for x in v.split(",")),
                    help="dense_ae hidden widths, e.g. 512 or 512,256")
    parser.add_argument("--base", type=int, help="conv_masked_ae base channels (default 32)")
    parser.add_argument("--prior-scales", type=lambda v: tuple(float(x) for x in v.split(",")),
                    dest="prior_scales",
                    help="conv_masked_ae normalised-convolution prior widths in pixels, "
                         "e.g. 1,2,4 (default none)")
    parser.add_argument("--thin-plate", type=_float_list_or_none, dest="thin_plate",
                    help="conv_masked_ae thin-plate smoothing-spline prior weights; the "
                         "network learns the residual on the first (default 0.05,0.5; "
                         "'none' for a plain network)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")


def add_parser(sub):
    """Add ``crowdmag`` to the top-level sub-parsers."""
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
        p.add_argument("--config", help="TOML file with a [crowdmag] table (crowdmag.config.toml "
                                        "of an earlier run reads back); options override it")
        p.add_argument("--tile-km", type=float, dest="tile_km",
                       help="tile side in km (default 60: 1.875 km pixels; the Britain "
                            "survey then keeps 22 complete held-out test tiles, 3 at 120 km)")
        p.add_argument("--tile-px", type=int, dest="tile_px",
                       help="tile side in pixels (default 32)")
        p.add_argument("--randomization", type=int,
                       help="random clean tiles per source grid (default 150)")
        p.add_argument("--sources", type=lambda v: tuple(v.split(",")),
                       help="clean tile sources (default britain,emag2v3,seafloor)")
        p.add_argument("--oversample", type=_factors,
                       help="SOURCE=FACTOR,... tiles drawn per grid = randomization x factor "
                            "(default britain=10: the real survey the test region is cut "
                            "from; 'none' for none)")
        p.add_argument("--seed", type=int, help="seed (default 0)")
    _add_train_arguments(tr)
    ev.add_argument("checkpoint", help="a best.pt or last.pt written by 'crowdmag train'")
    ev.add_argument("--baselines", type=lambda v: tuple(v.split(",")),
                    default=("nearest", "linear", "gaussian", "spline", "thin_plate"))
    ev.add_argument("--eval-source", default="britain", dest="eval_source",
                    help="held-out source reported (default britain: real survey data)")
    ev.add_argument("--split", choices=("test", "validation"), default="test",
                    help="region scored: 'validation' for design choices (which model, which "
                         "training corruption), 'test' (default) once, for the report")
    se.add_argument("--trials", type=int, default=20, help="number of trials (default 20)")
    se.add_argument("--sampler", choices=("random", "grid"), default="random")
    se.add_argument("--epochs-scale", type=float, default=1.0, dest="epochs_scale",
                    help="multiply every trial's epochs (e.g. 0.2 for a quick look)")
    se.add_argument("--objective", choices=("mae", "wasserstein", "mae+wasserstein"),
                    default="mae", help="validation score minimised (default mae; wasserstein: "
                                        "the value distributions' distance)")
    de.add_argument("files", nargs="+", help="CrowdMag CSV exports")
    de.add_argument("--checkpoint", help="trained model (best.pt; default: the shipped "
                                         "crowdmag_conv_ae.pt, see its model card)")
    de.add_argument("--tile-km", type=float, dest="tile_km",
                    help="tile side in km (default: the model's training tile, 60 km for the "
                         "shipped one; a walk of a few km needs ~2, which the model was not "
                         "trained at: a warning says so)")
    de.add_argument("--observatory", nargs="*", default=(),
                    help="IAGA-2002 X/Y/Z variation files of nearby observatories (used only "
                         "within 1000 km and where their data cover the recording)")
    de.add_argument("--support-px", type=float, default=2.0, dest="support_px",
                    help="pixels farther than this from a measured pixel are left empty "
                         "(default 2)")
    de.add_argument("--max-abs-nT", type=float, default=5000.0, dest="max_abs_nT",
                    help="screening: anomalies (total - IGRF - disturbance - device offset) "
                         "beyond this are removed before gridding (default 5000 nT), then "
                         "6-MAD outliers")
    for p in (ev, de):
        p.add_argument("--no-tta", action="store_false", dest="tta",
                       help="one model pass per tile instead of the average over its eight "
                            "rotations and mirror images (test-time augmentation, the "
                            "default: lower error, 8x the inference time)")
    crowd.set_defaults(handler=_cmd_crowdmag)
    return crowd


_TRAIN_FLAGS = ("model", "epochs", "batch_size", "lr", "optimizer", "lr_schedule", "loss",
                "loss_on", "loss_units", "distribution_weight", "device")
_MODEL_FLAGS = ("encoding", "hidden", "base", "prior_scales", "thin_plate")
_CORRUPTION_FLAGS = {"mask": "mask_fraction", "noise": "noise_nT", "mask_kind": "mask_kind",
                     "mask_max": "mask_fraction_max", "noise_max": "noise_nT_max"}


def _crowdmag_config(args):
    """Build the AEConfig from --config and the options given.

    AEConfig from --config (a [crowdmag] table), then the options that were given; every
    default comes from the dataclasses (AEConfig, TrainConfig, the models' configs).
    """
    from ...config import load_config, options_given
    from .run import AEConfig

    top = options_given(args, ("tile_km", "tile_px", "randomization", "sources", "oversample",
                        "seed", "eval_source"))
    config = load_config(AEConfig, getattr(args, "config", None), overrides=top,
                         section="crowdmag")
    if args.action != "train":
        return config
    train = {**config.train, **options_given(args, _TRAIN_FLAGS)}
    if args.seed is not None:
        train["seed"] = args.seed
    model = options_given(args, _MODEL_FLAGS)
    if model:
        train["model_kwargs"] = {**train.get("model_kwargs", {}), **model}
    corruption = {dest: getattr(args, flag) for flag, dest in _CORRUPTION_FLAGS.items()
                  if getattr(args, flag, None) is not None}
    if corruption:
        train["corruption"] = {**train.get("corruption", {}), **corruption}
    return AEConfig(**{**dataclasses.asdict(config), "train": train})


def _cmd_crowdmag(args, parser):
    from . import run as cm

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
                                         baselines=args.baselines, tta=args.tta,
                                         split=args.split)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))  # noqa: T201
        return 0
    if args.action == "search":
        fixed = [k for k in ("tile_km", "randomization") if getattr(args, k) is not None]
        _, best = cm.run_search(args.out, _crowdmag_config(args), n_trials=args.trials,
                                sampler=args.sampler, epochs_scale=args.epochs_scale,
                                fixed=fixed, progress=progress, objective=args.objective)
        print(json.dumps(best, indent=1))  # noqa: T201
        return 0
    if args.action == "denoise":
        observatories = ()
        if args.observatory:
            from ...io import read_stations

            observatories = tuple(read_stations(args.observatory).values())
        table = cm.run_denoise(args.files, args.out, checkpoint=args.checkpoint,
                               tile_km=args.tile_km, observatories=observatories,
                               tta=args.tta, progress=progress, support_px=args.support_px,
                               max_abs_nT=args.max_abs_nT)
        print(table.drop(columns=["netcdf"]).to_string(index=False))  # noqa: T201
        return 0
    parser.parse_args(["crowdmag", "--help"])
    return 2
