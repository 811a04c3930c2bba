"""``magnetar iar``: the IAR detection workflow's commands."""

from __future__ import annotations

import dataclasses
import json
import sys

__all__ = ["add_parser"]


def _add_train_arguments(parser):
    """Options of ``iar train`` (each defaults to None: the dataclasses decide)."""
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--nights", type=int, dest="n_train", help="training nights (default 178)")
    parser.add_argument("--val-nights", type=int, dest="n_val", help="validation nights (default 32)")
    parser.add_argument("--epochs", type=int, help="epochs (default 30)")
    parser.add_argument("--batch-size", type=int, dest="batch_size", help="default 4")
    parser.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    parser.add_argument("--optimizer", choices=("adam", "sgd", "rmsprop"), help="default adam")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"),
                     dest="lr_schedule", help="cosine: anneal the rate to 0 over the epochs")
    parser.add_argument("--loss", choices=("bce", "bce_dice"), help="default bce_dice")
    parser.add_argument("--edge-weight", type=float, dest="edge_weight",
                     help="extra cross-entropy weight on pixels within one pixel of a fringe "
                          "edge (default 0: plain)")
    parser.add_argument("--base", type=int, help="U-Net base channels (default 64)")
    parser.add_argument("--depth", type=int, help="U-Net levels (default 4)")
    parser.add_argument("--dropout", type=float, help="default 0.1")
    parser.add_argument("--init", help="weight initialiser (default he_normal)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--init-from", dest="init_from",
                     help="checkpoint of the same architecture to start from (fine-tuning, "
                          "e.g. the shipped model on hand-labelled real nights)")
    parser.add_argument("--labelled",
                     help="folder of hand-labelled nights, NAME.png with NAME_mask.png (fringes "
                          "white; any size, brought to the first one's): trained on instead of "
                          "synthetic nights")
    parser.add_argument("--val-fraction", type=float, dest="val_fraction",
                     help="share of the labelled nights kept for validation and the threshold "
                          "(default 0.2)")


def add_parser(sub):
    """Add ``iar`` to the top-level sub-parsers."""
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
    _add_train_arguments(itr)
    ipr = isub.add_parser("predict", help="fringe probability and mask for a spectrogram",
                          description="Batched prediction (GPU with mixed precision when "
                                      "present) with the input's coordinates.")
    ipr.add_argument("spectrogram", help="netCDF or HDF5 file of spectra (--variable, --dims, "
                                        "--scale say where and what they are)")
    ipr.add_argument("--model", help="best.pt written by 'iar train' (default: the shipped "
                                     "iar_unet16.pt)")
    ipr.add_argument("--out", required=True, help="output netCDF")
    ipr.add_argument("--variable", default="spectrogram",
                     help="variable holding the spectra (default 'spectrogram'; the stacked "
                          "spectra of a Mikhnevo-layout HDF5 file are recognised)")
    ipr.add_argument("--dims", default="frequency,time",
                     type=lambda v: tuple(x.strip() for x in v.split(",")),
                     help="its frequency and time dimensions in the file, FREQ,TIME "
                          "(default frequency,time)")
    ipr.add_argument("--scale", choices=("log10", "power", "amplitude"), default="log10",
                     help="what the values are: log10 power (default), power spectral "
                          "density, or amplitude spectral density")
    ipa = isub.add_parser("params", help="resonance frequencies f_n and spacing delta_f",
                          description="Per time step fringe centres and spacing (spectral "
                                      "autocorrelation), smoothed; CSV, netCDF and figure.")
    ipa.add_argument("prediction", help="netCDF written by 'iar predict'")
    ipa.add_argument("--out", required=True, help="output CSV (netCDF and PNG beside it)")
    iev = isub.add_parser("evaluate", help="held-out synthetic evaluation vs the baseline",
                          description="IoU/Dice/precision/recall of the U-Net and the "
                                      "peak-detection baseline on nights with other seeds "
                                      "and every generator range widened (--config "
                                      "test_widen), precision/recall/F1 within 1 and 2 "
                                      "frequency rows, centre-line recall, negative "
                                      "control, delta_f error.")
    iev.add_argument("model", help="best.pt written by 'iar train'")
    iev.add_argument("--out", required=True, help="output folder")
    iev.add_argument("-n", type=int, default=64, help="test nights (default 64)")
    iev.add_argument("--negative", type=int, default=32, help="nights without IARs (default 32)")
    _add_catalogue_parser(isub)
    for p in (isyn, itr, iev):
        p.add_argument("--seed", type=int, help="first seed (default 0)")
        p.add_argument("--workers", type=int,
                       help="processes generating synthetic nights (default 1)")
        p.add_argument("--config", help="TOML file with an [iar] table (iar.config.toml of an "
                                        "earlier run reads back); options override it")
    iar.set_defaults(handler=_cmd_iar)
    return iar


def _add_catalogue_parser(isub):
    icat = isub.add_parser(
        "catalogue", help="many days of raw series -> one IAR catalogue (per night), on Dask",
        description="Raw 100 Hz files of many days (miniSEED, IAGA-2002, .npy with the date "
                    "in the name) -> band-passed Welch spectrograms -> U-Net -> f_n and "
                    "delta_f -> catalogue.csv/.nc with one row per night (presence, hours, "
                    "delta_f median and 10-90 % range, fringe count) and nights/<date>.nc. "
                    "A night crossing midnight is joined from the two daily files. "
                    "Resumable: files and nights already done are skipped.")
    icat.add_argument("files", nargs="+", help="time-series files, any number of days")
    icat.add_argument("--out", required=True, help="output folder")
    icat.add_argument("--model", help="segmentation checkpoint (default: the shipped "
                                      "iar_unet16.pt)")
    icat.add_argument("--config", help="TOML file with a [catalogue] table (the config.toml "
                                       "of an earlier run reads back); options override it")
    icat.add_argument("--band", type=lambda v: tuple(float(x) for x in v.split(",")),
                      help="band-pass in Hz (default 0.5,10)")
    icat.add_argument("--night", help="night start,end in UT (default 18:00,06:00)")
    icat.add_argument("--sampling-rate", type=float, dest="sampling_rate",
                      help="Hz, for .npy and text files")
    icat.add_argument("--min-columns", type=int, dest="min_columns",
                      help="a night has IARs when delta_f is measured in at least this many "
                           "columns (default 6: 10 minutes)")
    icat.add_argument("--figures", action="store_true", help="a PNG per night")
    icat.add_argument("--workers", type=int, default=1,
                      help="local Dask worker processes (default 1: in this process)")
    icat.add_argument("--scheduler", help="address of an existing Dask scheduler")
    return icat


def _catalogue_config(args):
    from ...config import load_config
    from .catalogue import CatalogueConfig

    overrides = {"sampling_rate": args.sampling_rate, "min_columns": args.min_columns}
    if args.band is not None:
        overrides.update(low=args.band[0], high=args.band[1])
    if args.night is not None:
        start, _, end = args.night.partition(",")
        overrides.update(night_start=start, night_end=end)
    return load_config(CatalogueConfig, args.config, overrides=overrides, section="catalogue")


_TRAIN_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "lr_schedule", "loss", "edge_weight",
                "device", "init_from")
_MODEL_FLAGS = ("base", "depth", "dropout", "init")


def _iar_config(args):
    """Build the IARPipelineConfig from --config and the options given.

    IARPipelineConfig from --config (an [iar] table), then the options that were given;
    every default comes from the dataclasses.
    """
    from ...config import load_config, options_given
    from .run import IARPipelineConfig

    top = {k: getattr(args, k, None) for k in ("seed", "workers", "n_train", "n_val",
                                                "labelled", "val_fraction")}
    config = load_config(IARPipelineConfig, args.config, overrides=top, section="iar")
    train = dict(config.train)
    train.update(options_given(args, _TRAIN_FLAGS))
    model = options_given(args, _MODEL_FLAGS)
    if model:
        train["model_kwargs"] = {**train.get("model_kwargs", {}), **model}
    if args.seed is not None:
        train["seed"] = args.seed
    return dataclasses.replace(config, train=train)


def _cmd_iar(args, parser):
    from . import run as iar

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
    if args.action == "catalogue":
        from .catalogue import run_catalogue

        table = run_catalogue(args.files, args.out, _catalogue_config(args), model=args.model,
                              workers=args.workers, scheduler=args.scheduler,
                              figures=args.figures, progress=progress)
        ok = table[table["status"] == "ok"] if len(table) else table
        print(f"{len(table)} nights: {len(ok)} analysed, "  # noqa: T201
              f"{int(ok['iar_present'].sum()) if len(ok) else 0} with IARs; "
              f"catalogue in {args.out}/catalogue.csv")
        return 0
    config = _iar_config(args) if args.action in ("synth", "train", "evaluate") else None
    if args.action == "synth":
        print(iar.run_synth(args.out, n=args.n, config=config, seed=config.seed,  # noqa: T201
                            png=args.png, progress=progress))
        return 0
    if args.action == "train":
        _, history, written = iar.run_train(args.out, config, resume=args.resume,
                                            progress=progress)
        print(f"{len(history)} epochs, validation IoU {history[-1]['val_iou']:.3f}, "  # noqa: T201
              f"threshold {written['threshold']}; checkpoint {written['checkpoint']}")
        return 0
    if args.action == "predict":
        if args.model is None:
            from ...pretrained import pretrained_path

            args.model = pretrained_path("iar_unet16.pt")
        iar.run_predict(args.spectrogram, args.model, args.out, variable=args.variable,
                        dims=args.dims, scale=args.scale, progress=progress)
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
