"""Synthetic nights of 100 Hz search-coil data with Ionospheric Alfvén Resonances (IARs).

No public labelled IAR data exist, so training and testing the detector rests on a
generator whose every part is a power spectral density (PSD) model with exact ground truth.
Written by hand because no library models IAR spectra.

Components (parameters drawn per night from the ranges in :class:`IARConfig`):

- background ``B(f, t) = B1 * f**-alpha`` (1/f-like, alpha 1-2) drifting by a few dB;
- IAR fringes at ``f_n(t) = f_0(t) + n * df(t)``, ``f_0 = phi * df``, Lorentzian lines of
  width ``q * df`` (the resonator's quality factor), peak ``SNR * B(f_n)`` decaying with
  ``n``, fading in after dusk and out before dawn; ``df(t)`` rises through the evening as
  the ionosphere decays and falls towards dawn (Beggan 2014; Beggan & Musur 2018; Hodnett et
  al. 2024: spacing 0.1-1 Hz, fringes 0.5-5 Hz, visible 18-06 UT, mostly in winter nights);
- the first Schumann resonance near 7.9 Hz (Lorentzian, 1.5-2.5 Hz wide), 12-18 dB above the
  background at its centre: calibrated on real induction-magnetometer spectra (Mikhnevo,
  ``benchmarks/validate_iar_generator.py``: real centre 7.69/7.93/8.09 Hz and peak-over-5-Hz
  contrast 5.9/7.9/9.9 dB at the 5/50/95th percentiles, generator 7.69/7.92/8.12 Hz and
  6.5/8.0/9.9 dB; the earlier 2-8 dB gave 1.0-4.6 dB, a Schumann mode far weaker than real);
- Pc1 pulsation packets (0.3-3 Hz, rising tones, tens of minutes);
- man-made lines at a base frequency (1 Hz) and its harmonics, switching on and off;
- broadband impulsive columns (lightning, traffic) and data gaps;
- nights without IARs (``p_iar``).

The label of a pixel is exact: it lies within half a fringe width (FWHM) of a fringe
centre, and that fringe's expected power exceeds ``label_snr`` times the expected power of
everything else (background, Schumann, Pc1, lines, impulses) there. Two renderings share one draw: a fast
one that samples the spectrogram directly (expected Welch PSD times the chi-squared
scatter of a Welch estimate with its equivalent degrees of freedom) and one that makes the
100 Hz time series (Gaussian noise shaped segment by segment, lines as sinusoids) so the
whole chain (band-pass, Welch) runs on it; their spectrograms agree in distribution
(tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage, signal

from .._utils import progress_bar
from ..errors import ValidationError

__all__ = ["IARConfig", "synthetic_iar_night", "synthetic_iar_nights", "welch_dof"]


@dataclass
class IARConfig:
    """Ranges the night parameters are drawn from (uniformly unless said), and the grid.

    Grid: ``start`` (UT), ``hours``, ``sampling_rate`` (Hz), ``segment_s``, ``nfft``,
    ``overlap``, ``fmin``/``fmax`` (the crop), ``bandpass`` (Hz, order 4, zero phase).

    IARs: ``p_iar`` probability that a night has them; ``delta_f`` night maximum of the
    spacing (Hz); ``delta_f_swing`` fractional drop of the spacing at dusk and dawn below
    that maximum; ``f0_fraction`` phi; ``n_fringes``; ``f_top`` highest fringe frequency
    (Hz); ``width_fraction`` fringe FWHM / spacing; ``snr_db`` peak fringe-to-background
    ratio of the first fringe; ``decay`` e-folding (fringes) of the peak ratio;
    ``onset_h``/``end_h`` hours after ``start`` when fringes reach/leave full strength;
    ``fade_min`` fade duration (minutes); ``flicker_db`` slow intensity variation.

    Background: ``background`` log10 PSD at 1 Hz (nT^2/Hz), ``alpha`` slope,
    ``drift_db``. Schumann: ``schumann_hz``, ``schumann_fwhm``, ``schumann_snr_db``. Pc1:
    ``pc1_events`` (count range), ``pc1_hz``, ``pc1_snr_db``, ``pc1_min`` (duration),
    ``pc1_fwhm``. Lines: ``p_lines``, ``line_hz`` base frequency, ``line_snr_db``.
    Impulses: ``impulses_per_hour``, ``impulse_db``. Gaps: ``gaps`` (count range),
    ``gap_min``. Label: ``label_snr``.
    """

    start: str = "18:00"
    hours: float = 12.0
    sampling_rate: float = 100.0
    segment_s: float = 100.0
    nfft: int = 4096
    overlap: float = 0.5
    fmin: float = 0.5
    fmax: float = 10.0
    bandpass: tuple[float, float] = (0.5, 10.0)
    p_iar: float = 0.8
    delta_f: tuple[float, float] = (0.25, 0.9)
    delta_f_swing: tuple[float, float] = (0.2, 0.5)
    f0_fraction: tuple[float, float] = (0.4, 1.0)
    n_fringes: tuple[int, int] = (4, 10)
    f_top: tuple[float, float] = (3.0, 6.0)
    width_fraction: tuple[float, float] = (0.35, 0.5)
    snr_db: tuple[float, float] = (5.0, 12.0)
    decay: tuple[float, float] = (4.0, 12.0)
    onset_h: tuple[float, float] = (0.5, 3.0)
    end_h: tuple[float, float] = (8.5, 11.5)
    fade_min: tuple[float, float] = (20.0, 60.0)
    flicker_db: float = 1.5
    background: tuple[float, float] = (-6.5, -5.5)
    alpha: tuple[float, float] = (1.0, 2.0)
    drift_db: float = 2.0
    schumann_hz: tuple[float, float] = (7.65, 8.15)
    schumann_fwhm: tuple[float, float] = (1.5, 2.5)
    schumann_snr_db: tuple[float, float] = (12.0, 18.0)
    pc1_events: tuple[int, int] = (0, 3)
    pc1_hz: tuple[float, float] = (0.3, 3.0)
    pc1_snr_db: tuple[float, float] = (3.0, 10.0)
    pc1_min: tuple[float, float] = (20.0, 90.0)
    pc1_fwhm: tuple[float, float] = (0.1, 0.3)
    p_lines: float = 0.5
    line_hz: float = 1.0
    line_snr_db: tuple[float, float] = (6.0, 20.0)
    impulses_per_hour: tuple[float, float] = (0.0, 3.0)
    impulse_db: tuple[float, float] = (3.0, 12.0)
    gaps: tuple[int, int] = (0, 2)
    gap_min: tuple[float, float] = (10.0, 60.0)
    label_snr: float = 1.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] > value[1]:
                msg = f"IARConfig.{name} must be (low, high), got {value}"
                raise ValidationError(msg)
        if not 0 <= self.p_iar <= 1 or not 0 <= self.p_lines <= 1:
            msg = "p_iar and p_lines must be probabilities in [0, 1]"
            raise ValidationError(msg)
        if not 0 < self.fmin < self.fmax < self.sampling_rate / 2:
            msg = (f"need 0 < fmin < fmax < Nyquist; got fmin={self.fmin}, fmax={self.fmax}, "
                   f"sampling_rate={self.sampling_rate}")
            raise ValidationError(msg)
        if self.hours <= 0 or self.segment_s <= 0 or self.label_snr <= 0:
            msg = "hours, segment_s and label_snr must be positive"
            raise ValidationError(msg)

    def wider(self, factor=1.25):
        """Return a copy with every numeric range widened about its centre (held-out tests)."""
        out = {}
        for name, value in asdict(self).items():
            if (isinstance(value, (tuple, list)) and len(value) == 2 and name != "bandpass"
                    and all(isinstance(v, (int, float)) for v in value)):
                mid, half = (value[0] + value[1]) / 2, (value[1] - value[0]) / 2 * factor
                lo = max(mid - half, 0.0) if value[0] >= 0 else mid - half
                pair = (lo, mid + half)
                if all(isinstance(v, int) for v in value):
                    pair = (int(np.floor(pair[0])), int(np.ceil(pair[1])))
                out[name] = pair
        return IARConfig(**{**asdict(self), **out})


def _u(rng, pair):
    return float(rng.uniform(*pair))


def _smooth_walk(rng, n, scale, corr=30):
    """Return a smooth random curve of ``n`` samples with standard deviation ~``scale``."""
    x = np.cumsum(rng.standard_normal(n + 4 * corr))
    kernel = np.hanning(2 * corr + 1)
    x = np.convolve(x - x.mean(), kernel / kernel.sum(), mode="same")[2 * corr:2 * corr + n]
    std = x.std()
    return scale * (x - x.mean()) / std if std > 0 else np.zeros(n)


def _ramp(t, t_on, t_off, fade):
    """Raised-cosine envelope: 0 before ``t_on - fade``, 1 between, 0 after ``t_off + fade``."""
    up = np.clip((t - (t_on - fade)) / fade, 0, 1)
    down = np.clip(((t_off + fade) - t) / fade, 0, 1)
    return np.sin(np.pi / 2 * up) ** 2 * np.sin(np.pi / 2 * down) ** 2


def _lorentz(f, centre, hwhm):
    return 1.0 / (1.0 + ((f - centre) / hwhm) ** 2)


def _draw(config, rng, n_time):
    """Every random parameter of one night, as per-column arrays."""
    c = config
    t_h = (np.arange(n_time) + 0.5) * c.segment_s / 3600.0  # hours after start
    p = {"t_h": t_h}
    p["b1"] = 10 ** (_u(rng, c.background) + _smooth_walk(rng, n_time, c.drift_db / 10 / 2))
    p["alpha"] = _u(rng, c.alpha)
    p["has_iar"] = bool(rng.random() < c.p_iar)
    df_max = _u(rng, c.delta_f)
    swing = _u(rng, c.delta_f_swing)
    peak = _u(rng, (0.35, 0.6))
    u = t_h / c.hours
    bump = np.where(u < peak, np.sin(np.pi / 2 * np.clip(u / peak, 0, 1)),
                    np.cos(np.pi / 2 * np.clip((u - peak) / (1 - peak), 0, 1)))
    p["delta_f"] = df_max * (1 - swing * (1 - bump)) * (1 + _smooth_walk(rng, n_time, 0.02))
    p["phi"] = _u(rng, c.f0_fraction)
    p["n_fringes"] = int(rng.integers(c.n_fringes[0], c.n_fringes[1] + 1))
    p["f_top"] = _u(rng, c.f_top)
    p["q"] = _u(rng, c.width_fraction)
    p["snr"] = 10 ** (_u(rng, c.snr_db) / 10)
    p["decay"] = _u(rng, c.decay)
    fade = _u(rng, c.fade_min) / 60
    p["envelope"] = (_ramp(t_h, _u(rng, c.onset_h), _u(rng, c.end_h), fade)
                     * 10 ** (_smooth_walk(rng, n_time, c.flicker_db / 10)))
    if not p["has_iar"]:
        p["envelope"] = np.zeros(n_time)
    p["schumann"] = (_u(rng, c.schumann_hz), _u(rng, c.schumann_fwhm) / 2,
                     10 ** (_u(rng, c.schumann_snr_db) / 10)
                     * 10 ** _smooth_walk(rng, n_time, 0.1))
    events = []
    for _ in range(int(rng.integers(c.pc1_events[0], c.pc1_events[1] + 1))):
        dur = _u(rng, c.pc1_min) / 60
        t0 = _u(rng, (0, max(c.hours - dur, 0.01)))
        f0 = _u(rng, c.pc1_hz)
        env = _ramp(t_h, t0 + dur * 0.2, t0 + dur * 0.8, dur * 0.2)
        rise = 1 + _u(rng, (0.1, 0.3)) * np.clip((t_h - t0) / dur, 0, 1)
        events.append((f0 * rise, _u(rng, c.pc1_fwhm) / 2, 10 ** (_u(rng, c.pc1_snr_db) / 10)
                       * env))
    p["pc1"] = events
    lines = []
    if rng.random() < c.p_lines:
        on = np.ones(n_time, bool)
        for _ in range(int(rng.integers(0, 3))):  # switch off for a while
            a = int(rng.integers(0, n_time))
            on[a:a + int(rng.integers(10, n_time // 3 + 11))] = False
        for k in range(1, int(c.fmax // c.line_hz) + 1):
            if rng.random() < 0.7:
                lines.append((k * c.line_hz, 10 ** (_u(rng, c.line_snr_db) / 10), on))
    p["lines"] = lines
    impulses = np.ones(n_time)
    n_imp = rng.poisson(_u(rng, c.impulses_per_hour) * c.hours)
    for i in rng.integers(0, n_time, size=n_imp):
        impulses[i] += 10 ** (_u(rng, c.impulse_db) / 10)
    p["impulses"] = impulses
    gap = np.zeros(n_time, bool)
    for _ in range(int(rng.integers(c.gaps[0], c.gaps[1] + 1))):
        length = max(1, int(_u(rng, c.gap_min) * 60 / c.segment_s))
        a = int(rng.integers(0, max(1, n_time - length)))
        gap[a:a + length] = True
    p["gap"] = gap
    return p


def _fringe_centres(p):
    n = np.arange(p["n_fringes"])[:, None]
    return (n + p["phi"]) * p["delta_f"][None, :]


def _components(p, f):
    """Return the continuous PSD parts of fringes and of the rest.

    Continuous PSD parts on frequencies ``f`` (Hz): ``(fringes, other)``, each
    ``(len(f), n_time)`` in nT^2/Hz (lines excluded: they are added separately).
    """
    f = np.asarray(f, float)[:, None]
    fc = np.maximum(f, 0.05)
    background = p["b1"][None, :] * fc ** -p["alpha"]
    ref = lambda x: p["b1"][None, :] * np.maximum(x, 0.05) ** -p["alpha"]  # noqa: E731
    other = background * p["impulses"][None, :]
    fs_, hw, amp = p["schumann"]
    other = other + ref(fs_) * amp[None, :] * _lorentz(f, fs_, hw)
    for centre, hw, amp in p["pc1"]:
        other = other + ref(centre[None, :]) * amp[None, :] * _lorentz(f, centre[None, :], hw)
    fringes = np.zeros_like(other)
    if p["has_iar"]:
        hwhm = p["q"] * p["delta_f"][None, :] / 2
        for n, centre in enumerate(_fringe_centres(p)):
            strength = p["snr"] * np.exp(-n / p["decay"]) * p["envelope"]
            strength = strength * (centre <= p["f_top"])
            fringes = fringes + (ref(centre[None, :]) * strength[None, :]
                                 * _lorentz(f, centre[None, :], hwhm))
    return fringes, other


def _line_power(p, freq_line, snr):
    """Line power (nT^2) whose Welch peak is ``snr`` times the background there."""
    return snr * p["b1"] * max(freq_line, 0.05) ** -p["alpha"]


def welch_dof(nperseg, step, n_windows, window="hann"):
    """Equivalent degrees of freedom of a Welch estimate.

    Welch (1967), for overlapped windows: ``2K / (1 + 2 sum_j (1 - j/K) rho_j**2)``.

    Parameters
    ----------
    nperseg, step, n_windows : int
        Window length, hop and number of windows.
    window : str
        Window name (``scipy.signal.get_window``).

    Returns
    -------
    float
        Equivalent degrees of freedom.
    """
    w = signal.get_window(window, nperseg)
    total = np.sum(w * w)
    acc = 0.0
    for j in range(1, n_windows):
        shift = j * step
        if shift >= nperseg:
            break
        acc += (1 - j / n_windows) * (np.sum(w[:nperseg - shift] * w[shift:]) / total) ** 2
    return 2 * n_windows / (1 + 2 * acc)


def _grid(config):
    fs = config.sampling_rate
    seg = int(round(config.segment_s * fs))
    nperseg = min(config.nfft, seg)
    nfft = max(config.nfft, nperseg)
    step = nperseg - int(config.overlap * nperseg)
    k = (seg - nperseg) // step + 1
    freq = np.fft.rfftfreq(nfft, 1 / fs)
    keep = (freq >= config.fmin) & (freq <= config.fmax)
    n_time = int(round(config.hours * 3600 / config.segment_s))
    return {"fs": fs, "seg": seg, "nperseg": nperseg, "nfft": nfft, "step": step, "k": k,
            "freq": freq, "keep": keep, "n_time": n_time}


def _expected_welch(p, config, g):
    """Return the expected Welch PSD at the spectrogram bins.

    Expected Welch PSD of fringes and of everything else at the spectrogram bins:
    the continuous PSD convolved with the window's spectral kernel, lines as deltas, and
    the band-pass filter's power response applied.
    """
    over = 8
    df_fine = g["fs"] / (g["nfft"] * over)
    half = 4 * over  # +- 4 bins of the FFT
    win = signal.get_window("hann", g["nperseg"])
    kern = np.abs(np.fft.fft(win, g["nfft"] * over)) ** 2
    kern = np.concatenate([kern[-half:], kern[:half + 1]])
    kern /= kern.sum()
    bins = g["freq"][g["keep"]]
    fine = bins[0] + np.arange(-half, over * (len(bins) - 1) + half + 1) * df_fine
    picks = half + over * np.arange(len(bins))
    parts = []
    for comp in _components(p, fine):
        # the kernel is symmetric (|W(f)|^2 of a real window): correlation = convolution
        parts.append(ndimage.convolve1d(comp, kern, axis=0, mode="constant")[picks])
    fringe, other = parts
    for f_line, snr, on in p["lines"]:
        # a sinusoid of power P: expected Welch PSD P |W(f - f_l)|^2 / (fs sum w^2)
        phasor = win * np.exp(2j * np.pi * f_line / g["fs"] * np.arange(g["nperseg"]))
        resp = np.abs(np.fft.fft(phasor, g["nfft"])[:g["nfft"] // 2 + 1]) ** 2
        resp = resp / (g["fs"] * np.sum(win ** 2))
        other = other + np.outer(resp[g["keep"]], _line_power(p, f_line, snr) * on)
    if config.bandpass:
        sos = signal.butter(4, config.bandpass, btype="bandpass", fs=g["fs"], output="sos")
        _, h = signal.sosfreqz(sos, worN=bins, fs=g["fs"])
        gain = (np.abs(h) ** 4)[:, None]  # forwards and backwards: |H|^2 in amplitude
        fringe, other = fringe * gain, other * gain
    return fringe, other


def _label(p, config, freq, other):
    """Label the fringe pixels.

    Fringe pixels: within half the fringe's width (FWHM) of its centre, where that
    fringe alone has more than ``label_snr`` times the expected power of everything else.
    """
    if not p["has_iar"]:
        return np.zeros(other.shape, bool), np.zeros(other.shape, int)
    df = p["delta_f"][None, :]
    f = freq[:, None]
    n = np.clip(np.round(f / df - p["phi"]), 0, p["n_fringes"] - 1)
    centre = (n + p["phi"]) * df
    hwhm = p["q"] * df / 2
    strength = p["snr"] * np.exp(-n / p["decay"]) * p["envelope"][None, :]
    own = (strength * p["b1"][None, :] * np.maximum(centre, 0.05) ** -p["alpha"]
           * _lorentz(f, centre, hwhm))
    if config.bandpass:
        sos = signal.butter(4, config.bandpass, btype="bandpass", fs=config.sampling_rate,
                            output="sos")
        _, h = signal.sosfreqz(sos, worN=freq, fs=config.sampling_rate)
        own = own * (np.abs(h) ** 4)[:, None]
    label = (np.abs(f - centre) <= hwhm) & (own > config.label_snr * other)
    return label & (centre <= p["f_top"]), n.astype(int)


def _series(p, config, g, rng):
    """Return the 100 Hz time series: shaped Gaussian noise per segment plus line sinusoids."""
    seg, fs = g["seg"], g["fs"]
    f = np.fft.rfftfreq(seg, 1 / fs)
    fringe, other = _components(p, f)
    psd = fringe + other  # (f, time)
    scale = np.sqrt(psd * seg * fs / 4)
    spec = scale * (rng.standard_normal(psd.shape) + 1j * rng.standard_normal(psd.shape))
    spec[0] = 0
    x = np.fft.irfft(spec, n=seg, axis=0).T.ravel()  # (time * seg,)
    t = np.arange(x.size) / fs
    for f_line, snr, on in p["lines"]:
        amp = np.sqrt(2 * _line_power(p, f_line, snr))
        x += np.repeat(amp * on, seg) * np.sin(2 * np.pi * f_line * t + rng.uniform(0, 2 * np.pi))
    x[np.repeat(p["gap"], seg)] = np.nan
    return x


def synthetic_iar_night(config=None, *, seed=0, night="2020-01-01", timeseries=False):
    """One synthetic night with exact labels.

    Parameters
    ----------
    config : IARConfig, optional
    seed : int
    night : date
        Date the night begins (its ``start`` is on this day).
    timeseries : bool
        Also make the 100 Hz series and compute the spectrogram from it through
        :func:`magnetar.processing.bandpass` and :func:`~magnetar.processing.welch_spectrogram`
        (slower); otherwise the spectrogram is sampled directly.

    Returns
    -------
    xarray.Dataset
        ``spectrogram`` (frequency, time) log10 nT^2/Hz; ``mask`` (frequency, time) uint8
        (1 = IAR fringe); ``expected`` (the noise-free log10 PSD); ``fringe_frequency``
        (fringe, time) in Hz, NaN where that fringe is not visible; ``delta_f`` (time) Hz,
        NaN where fewer than two fringes are visible; attrs ``has_iar``, ``seed`` and the
        drawn night parameters. With ``timeseries=True``: ``(dataset, series)``.
    """
    config = IARConfig() if config is None else config
    rng = np.random.default_rng(seed)
    g = _grid(config)
    p = _draw(config, rng, g["n_time"])
    fringe, other = _expected_welch(p, config, g)
    total = fringe + other
    freq = g["freq"][g["keep"]]
    mask, fringe_index = _label(p, config, freq, other)
    mask &= ~p["gap"][None, :]
    start = pd.Timestamp(night).normalize() + pd.to_timedelta(config.start + ":00")
    times = start + pd.to_timedelta((np.arange(g["n_time"]) + 0.5) * config.segment_s, unit="s")
    series = None
    if timeseries:
        from ..io import timeseries_from_array
        from ..processing import bandpass, crop_band, welch_spectrogram

        x = _series(p, config, g, rng)
        series = timeseries_from_array(x, sampling_rate=g["fs"], start=start,
                                       channels=["H"])
        filtered = bandpass(series, low=config.bandpass[0], high=config.bandpass[1])
        spec = welch_spectrogram(filtered, segment_s=config.segment_s, nfft=config.nfft,
                                 overlap=config.overlap)
        spec = crop_band(spec, fmin=config.fmin, fmax=config.fmax).values
    else:
        dof = welch_dof(g["nperseg"], g["step"], g["k"])
        scatter = rng.gamma(dof / 2, 2 / dof, size=total.shape)
        spec = np.log10(total * scatter)
    spec = np.where(p["gap"][None, :], np.nan, spec)
    # truth: visible fringes (some pixel of that fringe labelled at that time)
    centres = _fringe_centres(p)
    f_true = np.full(centres.shape, np.nan)
    if p["has_iar"]:
        visible = np.stack([(mask & (fringe_index == n)).any(axis=0)
                            for n in range(len(centres))])
        f_true = np.where(visible, centres, np.nan)
    n_visible = np.isfinite(f_true).sum(axis=0)
    delta = np.where(n_visible >= 2, p["delta_f"], np.nan)
    coords = {"frequency": ("frequency", freq, {"units": "Hz"}), "time": times.values}
    ds = xr.Dataset(
        {"spectrogram": (("frequency", "time"), spec,
                         {"units": "log10(nT^2/Hz)", "long_name": "power spectral density"}),
         "mask": (("frequency", "time"), mask.astype(np.uint8),
                  {"long_name": "IAR fringe label", "flag_values": [0, 1]}),
         "expected": (("frequency", "time"), np.log10(total), {"units": "log10(nT^2/Hz)"}),
         "fringe_frequency": (("fringe", "time"), f_true, {"units": "Hz"}),
         "delta_f": (("time",), delta, {"units": "Hz", "long_name": "fringe spacing"})},
        coords=coords,
        attrs={"has_iar": int(p["has_iar"]), "seed": int(seed), "segment_s": config.segment_s,
               "nfft": config.nfft, "sampling_rate": config.sampling_rate,
               "phi": p["phi"], "alpha": p["alpha"], "n_lines": len(p["lines"]),
               "n_pc1": len(p["pc1"]), "source": "magnetar.synthetic.synthetic_iar_night"})
    return (ds, series) if timeseries else ds


def _one_night(args):
    config, seed = args
    night = synthetic_iar_night(config, seed=seed)
    hours = (night["time"].values - night["time"].values[0]) / np.timedelta64(1, "h")
    return night.assign_coords(time=("time", hours + night.attrs["segment_s"] / 7200,
                                     {"units": "hours after the night's start"}),
                               fringe=np.arange(night.sizes["fringe"]))


def synthetic_iar_nights(n, config=None, *, seed=0, workers=1, progress=False):
    """Generate ``n`` labelled nights stacked along ``night``.

    ``n`` nights (seeds ``seed .. seed + n - 1``) stacked along a ``night`` dimension
    (``fringe`` padded to the largest count, ``time`` in hours after the start);
    ``workers`` > 1 generates in processes.

    Parameters
    ----------
    n : int
        Number of nights.
    config : IARConfig, optional
        Generator ranges.
    seed : int
        First seed.
    workers : int
        Processes generating nights.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        As :func:`synthetic_iar_night` with a ``night`` dimension, ``has_iar`` and ``seed``.
    """
    jobs = [(config, s) for s in range(seed, seed + n)]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_one_night, jobs, chunksize=max(1, n // (4 * workers)))
            items = list(progress_bar(results, enabled=progress, total=n,
                                      desc="synthetic nights", unit="night"))
    else:
        items = [_one_night(job) for job in progress_bar(jobs, enabled=progress,
                                                         desc="synthetic nights", unit="night")]
    out = xr.concat(items, dim="night", join="outer", combine_attrs="drop_conflicts",
                    fill_value={"fringe_frequency": np.nan})
    out["has_iar"] = ("night", np.array([it.attrs["has_iar"] for it in items], np.uint8))
    out["seed"] = ("night", np.arange(seed, seed + n))
    out.attrs.pop("has_iar", None)
    out.attrs.pop("seed", None)
    return out



def synthetic_iar_archive(folder, n_nights, config=None, *, seed=0, first_night="2020-01-01"):
    """Write ``n_nights`` synthetic 100 Hz nights as daily miniSEED files, as archived.

    An observatory stores days (00:00-24:00 UT), so a night's evening lies in one file and
    its morning in the next; between 06:00 and 18:00 there are no samples here. Night ``k``
    has seed ``seed + k``; file ``k`` holds the morning of night ``k - 1`` and the evening
    of night ``k`` (``n_nights + 1`` files).

    Parameters
    ----------
    folder : path-like
        Output folder (created).
    n_nights : int
        Number of nights.
    config : IARConfig, optional
        Generator ranges.
    seed : int
        Seed of the first night.
    first_night : date
        Date the first night begins.

    Returns
    -------
    (list of Path, pandas.DataFrame)
        The files and the truth per night: ``night`` (date), ``has_iar``,
        ``delta_f_median_hz`` (median of the visible spacing), ``fringes_max``.
    """
    from pathlib import Path

    from ..io import timeseries_from_array, write_mseed

    config = IARConfig() if config is None else config
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = pd.Timestamp(first_night).normalize()
    fs = float(config.sampling_rate)
    per_day = int(round(86400 * fs))
    days = np.full((n_nights + 1, per_day), np.nan)
    truth = []
    for k in range(n_nights):
        date = first + pd.Timedelta(days=k)
        night, series = synthetic_iar_night(config, seed=seed + k, night=date, timeseries=True)
        offset = int(round((pd.Timestamp(series["time"].values[0]) - date).total_seconds()
                           * fs))
        values = series.values[:, 0]
        head = min(values.size, per_day - offset)
        days[k, offset:offset + head] = values[:head]
        rest = values[head:]
        days[k + 1, :rest.size] = rest
        visible = night["delta_f"].values[np.isfinite(night["delta_f"].values)]
        truth.append({"night": date.date().isoformat(), "has_iar": bool(night.attrs["has_iar"]),
                      "delta_f_median_hz": float(np.median(visible)) if visible.size else None,
                      "fringes_max": int(np.isfinite(night["fringe_frequency"].values)
                                         .sum(axis=0).max())})
    paths = []
    for k in range(n_nights + 1):
        date = first + pd.Timedelta(days=k)
        series = timeseries_from_array(days[k], sampling_rate=fs, start=date, channels=["H"])
        paths.append(write_mseed(series, folder / f"syn_{date:%Y%m%d}.mseed", station="SYN",
                                 overwrite=True))
    return paths, pd.DataFrame(truth)
