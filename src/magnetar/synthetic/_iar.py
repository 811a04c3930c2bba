"""Synthetic nights of 100 Hz search-coil data with Ionospheric Alfvén Resonances (IARs).

No public labelled IAR data exist, so training and testing the detector rests on a
generator whose every part is a power spectral density (PSD) model with exact ground truth.
Written by hand because no library models IAR spectra. Since session 17 its ranges cover
what observed nights show, not one tidy kind of night (issue 24): a detector trained on
narrow ranges learnt the generator, and missed the dense, narrow fringes of another one.

Components (parameters drawn per night from the ranges in :class:`IARConfig`):

- background ``B(f, t) = B1 * f**-alpha`` (1/f-like, alpha 1-2) drifting by a few dB;
- IAR fringes at ``f_n(t) = offset + (n + phi) * df(t)``: Lorentzian lines of width
  ``q * df`` (the resonator's quality factor; q 0.05-0.6 drawn log-uniformly, so thin
  fringes of a row or two are as common as broad ones filling most of the spacing), peak
  ``SNR * B(f_n)`` (4-14 dB) decaying with ``n``; 2-30 fringes up to
  2-7 Hz; ``df(t)`` 0.1-1.2 Hz, an arc that rises through the evening as the ionosphere
  decays and falls towards dawn, peaking anywhere in the night, or straight (no swing)
  (Belyaev et al. 1990; Molchanov et al. 2004; Beggan 2014; Beggan & Musur 2018; Hodnett
  et al. 2024: spacing about 0.1-1 Hz, fringes from about 0.5 Hz to several Hz, visible
  between dusk and dawn, mostly in winter nights). Each fringe flickers on its own (slow
  intensity walk along it) and some appear and fade within the night; sporadic families
  (a second comb with its own spacing, phase and width for 0.5-3 h) come and go;
- the first Schumann resonance near 7.9 Hz (Lorentzian, 1.5-2.5 Hz wide), 12-18 dB above the
  background at its centre: calibrated on real induction-magnetometer spectra (Mikhnevo,
  ``benchmarks/validate_iar_generator.py``: real centre 7.69/7.93/8.09 Hz and peak-over-5-Hz
  contrast 5.9/7.9/9.9 dB at the 5/50/95th percentiles, generator 7.69/7.92/8.12 Hz and
  6.5/8.0/9.9 dB; the earlier 2-8 dB gave 1.0-4.6 dB, a Schumann mode far weaker than real);
- Pc1 pulsation packets (0.3-3 Hz, rising tones, tens of minutes);
- tonal lines: a harmonic series on a 0.5-2 Hz base switching on and off, and single tones
  drifting by 0.05-1 Hz over the night; optionally (``broad_lines``, none by default so the
  held-out nights stay those of earlier sessions) wandering lines: man-made tones whose
  frequency wanders within a Welch segment (cathodic protection, traction and industrial
  sources are not crystal-stable) are narrow-band noise, a Gaussian of 0.005-0.05 Hz
  standard deviation about a drifting path, several rows wide like a thin fringe but alone
  and up to tens of dB strong (the real LLO night has one at 2.9 Hz, 3-4 rows wide and
  ~20 dB), half of them switching on and off in runs of a few columns;
- broadband impulsive columns (lightning, traffic), bursts of several columns with their
  own spectral slope, and data gaps;
- nights without IARs (``p_iar``).

The label is physical: a pixel is a fringe pixel where one fringe's expected Welch power
stands ``label_db`` (0) dB above the natural rest there (background, Schumann, Pc1 and the
other fringes), i.e. where that fringe at least doubles the expected power (a 3 dB rise,
the half-power criterion), so a label is as wide as the fringe is visible: a strong broad fringe is
wide, a narrow one a few rows (the window's main lobe), neighbours stay apart, and fringes
run through impulses, bursts and tonal lines (as a person drawing them would). The expected
Welch power of each fringe is its Lorentzian convolved with the Hann window's kernel, from a
table over width and offset (exact for fringes narrower than a bin: tested against the
window's equivalent noise bandwidth). Two renderings share one draw: a fast one that samples
the spectrogram directly (expected Welch PSD times the chi-squared scatter of a Welch
estimate with its equivalent degrees of freedom) and one that makes the 100 Hz time series
(Gaussian noise shaped segment by segment, lines as sinusoids of continuous phase) so the
whole chain (band-pass, Welch) runs on it; their spectrograms agree in distribution
(tested).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

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

    IARs (the main comb): ``p_iar`` probability that a night has them; ``delta_f`` night
    maximum of the spacing (Hz), never below ``delta_f_min``, wandering by
    ``delta_f_jitter`` (fraction, standard deviation); ``delta_f_swing`` fractional
    drop of the spacing at dusk and dawn below that maximum (0: straight fringes);
    ``arc_peak`` when in the night (fraction) the spacing peaks; ``f0_fraction`` phi and
    ``f0_offset`` (Hz) in ``f_n = offset + (n + phi) delta_f``; ``n_fringes``; ``f_top``
    highest fringe frequency (Hz); ``width_fraction`` fringe FWHM / spacing (log-uniform:
    thin fringes as common as broad ones; a widened range starts at 0.02); ``snr_db`` peak
    fringe-to-background ratio of the first fringe; ``decay`` e-folding (fringes) of that
    ratio; ``onset_h``/``end_h`` hours after ``start`` when fringes reach/leave full strength;
    ``fade_min`` fade duration (minutes); ``flicker_db`` slow intensity variation along each
    fringe (dB, standard deviation); ``p_fringe_fade`` share of fringes that appear and fade
    on their own within the night. Sporadic families: ``families`` extra combs per night
    with their own spacing, phase and width, each lasting ``family_hours``.

    Background: ``background`` log10 PSD at 1 Hz (nT^2/Hz), ``alpha`` slope,
    ``drift_db``. Schumann: ``schumann_hz``, ``schumann_fwhm``, ``schumann_snr_db``. Pc1:
    ``pc1_events`` (count range), ``pc1_hz``, ``pc1_snr_db``, ``pc1_min`` (duration),
    ``pc1_fwhm``. Tonal lines: ``p_lines`` (a harmonic series at base ``line_hz``),
    ``drift_lines`` (count of single tones drifting by ``drift_hz`` over the night),
    ``line_snr_db``; wandering lines ``broad_lines`` (count range) of spectral standard
    deviation ``line_width_hz``, drifting by up to ``drift_hz``, at ``line_snr_db``.
    Impulses (one column): ``impulses_per_hour``, ``impulse_db``; broadband bursts
    (several columns, spectral slope -1..1): ``bursts``, ``burst_min``, ``burst_db``.
    Gaps: ``gaps`` (count range), ``gap_min``. Label: ``label_db``.
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
    delta_f: tuple[float, float] = (0.12, 1.2)
    delta_f_min: float = 0.08
    delta_f_jitter: float = 0.02
    delta_f_swing: tuple[float, float] = (0.0, 0.6)
    arc_peak: tuple[float, float] = (0.2, 0.8)
    f0_fraction: tuple[float, float] = (0.0, 1.0)
    f0_offset: tuple[float, float] = (0.0, 0.8)
    n_fringes: tuple[int, int] = (2, 30)
    f_top: tuple[float, float] = (2.0, 7.0)
    width_fraction: tuple[float, float] = (0.05, 0.6)
    snr_db: tuple[float, float] = (4.0, 14.0)
    decay: tuple[float, float] = (3.0, 30.0)
    onset_h: tuple[float, float] = (0.0, 3.5)
    end_h: tuple[float, float] = (8.0, 12.0)
    fade_min: tuple[float, float] = (10.0, 90.0)
    flicker_db: tuple[float, float] = (0.5, 3.0)
    p_fringe_fade: float = 0.3
    families: tuple[int, int] = (0, 2)
    family_hours: tuple[float, float] = (0.5, 3.0)
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
    line_hz: tuple[float, float] = (0.5, 2.0)
    drift_lines: tuple[int, int] = (0, 2)
    drift_hz: tuple[float, float] = (0.05, 1.0)
    line_snr_db: tuple[float, float] = (6.0, 20.0)
    broad_lines: tuple[int, int] = (0, 0)
    line_width_hz: tuple[float, float] = (0.005, 0.05)
    impulses_per_hour: tuple[float, float] = (0.0, 3.0)
    impulse_db: tuple[float, float] = (3.0, 12.0)
    bursts: tuple[int, int] = (0, 3)
    burst_min: tuple[float, float] = (5.0, 40.0)
    burst_db: tuple[float, float] = (3.0, 10.0)
    gaps: tuple[int, int] = (0, 2)
    gap_min: tuple[float, float] = (10.0, 60.0)
    label_db: float = 0.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] > value[1]:
                msg = f"IARConfig.{name} must be (low, high), got {value}"
                raise ValidationError(msg)
        for name in ("p_iar", "p_lines", "p_fringe_fade"):
            if not 0 <= getattr(self, name) <= 1:
                msg = f"IARConfig.{name} must be a probability in [0, 1], got {getattr(self, name)}"
                raise ValidationError(msg)
        if not 0 < self.fmin < self.fmax < self.sampling_rate / 2:
            msg = (f"need 0 < fmin < fmax < Nyquist; got fmin={self.fmin}, fmax={self.fmax}, "
                   f"sampling_rate={self.sampling_rate}")
            raise ValidationError(msg)
        if self.hours <= 0 or self.segment_s <= 0 or self.delta_f_min <= 0:
            msg = "hours, segment_s and delta_f_min must be positive"
            raise ValidationError(msg)
        if not np.isfinite(self.label_db):
            msg = f"IARConfig.label_db must be a finite number of dB, got {self.label_db}"
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


# physical floors: a widened range must not reach a zero fade, decay or burst length
_MIN_FADE_H = 1 / 60
_MIN_DECAY = 0.5


def _u(rng, pair):
    return float(rng.uniform(*pair))


def _log_u(rng, pair, floor):
    """Draw log-uniformly from ``pair``; a low end of zero (a widened range) is ``floor``."""
    lo = pair[0] if pair[0] > 0 else floor
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(pair[1], lo)))))


def _count(rng, pair):
    return int(rng.integers(pair[0], pair[1] + 1))


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


def _spacing(c, rng, t_h, df_max, swing):
    """Return the spacing (time,): an arc peaking at a drawn time, or straight (swing 0)."""
    peak = min(max(_u(rng, c.arc_peak), 0.05), 0.95)
    u = t_h / c.hours
    bump = np.where(u < peak, np.sin(np.pi / 2 * np.clip(u / peak, 0, 1)),
                    np.cos(np.pi / 2 * np.clip((u - peak) / (1 - peak), 0, 1)))
    df = df_max * (1 - min(swing, 0.9) * (1 - bump)) * (1 + _smooth_walk(rng, t_h.size,
                                                                         c.delta_f_jitter))
    return np.maximum(df, c.delta_f_min)


def _draw_comb(c, rng, t_h, *, window, n_range, swing):
    """One comb of fringes: spacing, phase, width and each fringe's strength over time."""
    df = _spacing(c, rng, t_h, _u(rng, c.delta_f), swing)
    n = max(1, _count(rng, n_range))
    snr = 10 ** (_u(rng, c.snr_db) / 10)
    decay = max(_u(rng, c.decay), _MIN_DECAY)
    fade = max(_u(rng, c.fade_min) / 60, _MIN_FADE_H)
    envelope = _ramp(t_h, window[0], window[1], fade)
    flicker = _u(rng, c.flicker_db)
    strength = np.empty((n, t_h.size))
    for k in range(n):  # each fringe flickers on its own; some appear and fade on their own
        s = snr * np.exp(-k / decay) * envelope * 10 ** _smooth_walk(rng, t_h.size, flicker / 10)
        if rng.random() < c.p_fringe_fade:
            a = _u(rng, (window[0] - 1.0, window[1]))
            s = s * _ramp(t_h, a, a + _u(rng, (1.0, 6.0)), max(_u(rng, (0.2, 1.0)), _MIN_FADE_H))
        strength[k] = s
    return {"delta_f": df, "phi": _u(rng, c.f0_fraction), "offset": _u(rng, c.f0_offset),
            "q": _log_u(rng, c.width_fraction, 0.02), "f_top": _u(rng, c.f_top),
            "strength": strength}


def _draw_combs(c, rng, t_h):
    """Return the main comb and the sporadic families (empty on a night without IARs)."""
    window = (_u(rng, c.onset_h), _u(rng, c.end_h))
    combs = [_draw_comb(c, rng, t_h, window=window, n_range=c.n_fringes,
                        swing=_u(rng, c.delta_f_swing))]
    for _ in range(_count(rng, c.families)):
        hours = _u(rng, c.family_hours)
        t0 = _u(rng, (0.0, max(c.hours - hours, 0.01)))
        combs.append(_draw_comb(c, rng, t_h, window=(t0, t0 + hours),
                                n_range=(c.n_fringes[0], min(c.n_fringes[1], 8)),
                                swing=_u(rng, (0.0, 0.3))))
    return combs


def _draw_lines(c, rng, n_time):
    """Tonal lines: a harmonic series switching on and off, and drifting single tones."""
    lines = []
    if rng.random() < c.p_lines:
        on = np.ones(n_time, bool)
        for _ in range(int(rng.integers(0, 3))):  # switch off for a while
            a = int(rng.integers(0, n_time))
            on[a:a + int(rng.integers(10, n_time // 3 + 11))] = False
        base = _u(rng, c.line_hz)
        for k in range(1, int(c.fmax // base) + 1):
            if rng.random() < 0.7:
                lines.append((np.full(n_time, k * base), 10 ** (_u(rng, c.line_snr_db) / 10), on))
    for _ in range(_count(rng, c.drift_lines)):
        path, on = _drifting_path(c, rng, n_time), _on_interval(rng, n_time)
        lines.append((path, 10 ** (_u(rng, c.line_snr_db) / 10), on))
    return lines


def _drifting_path(c, rng, n_time, *, slower=False):
    """Return the path (time,) Hz of a line drifting by ``drift_hz`` over the night.

    ``slower``: by a random fraction of that. It wanders smoothly about the straight drift.
    """
    f0 = _u(rng, (c.fmin, c.fmax))
    drift = _u(rng, c.drift_hz) * rng.choice([-1, 1])
    if slower:
        drift *= rng.random()
    path = f0 + drift * np.linspace(0, 1, n_time) + _smooth_walk(rng, n_time, abs(drift) / 10)
    return np.clip(path, 0.05, c.sampling_rate / 2 - 0.05)


def _on_interval(rng, n_time):
    """Return on-states (time,): one interval of a sixth of the night or more."""
    on = np.zeros(n_time, bool)
    a = int(rng.integers(0, n_time // 2))
    on[a:a + int(rng.integers(n_time // 6, n_time))] = True
    return on


def _draw_broad_lines(c, rng, n_time):
    """Wandering tonal lines: (path (time,), spectral sigma Hz, peak SNR, on (time,)).

    Drawn from a spawned generator, so a night's every other draw and its noise are the same
    with or without them (none drawn when ``broad_lines`` is ``(0, 0)``).
    """
    out = []
    if c.broad_lines[1] <= 0:
        return out
    rng = rng.spawn(1)[0]
    for _ in range(_count(rng, c.broad_lines)):
        path = _drifting_path(c, rng, n_time, slower=True)
        sigma = _log_u(rng, c.line_width_hz, 0.002)
        on = _on_interval(rng, n_time)
        if rng.random() < 0.5:  # a source switching on and off (machinery, traffic)
            on &= _switching(rng, n_time, duty=_u(rng, (0.2, 0.9)), run=_u(rng, (1.0, 20.0)))
        out.append((path, sigma, 10 ** (_u(rng, c.line_snr_db) / 10), on))
    return out


def _switching(rng, n_time, *, duty, run):
    """Return on/off states (time,) of a two-state Markov chain.

    On about ``duty`` of the time, in runs of mean length ``run`` columns.
    """
    p_off = 1.0 / run  # leave the on state
    p_on = p_off * duty / max(1.0 - duty, 1e-6)  # balance: duty = p_on / (p_on + p_off)
    state, out = rng.random() < duty, np.empty(n_time, bool)
    flips = rng.random(n_time)
    for i in range(n_time):
        out[i] = state
        state = (flips[i] >= p_off) if state else (flips[i] < p_on)
    return out


def _draw_columns(c, rng, n_time):
    """Return the one-column impulses, the bursts and the gaps."""
    impulses = np.ones(n_time)
    n_imp = rng.poisson(_u(rng, c.impulses_per_hour) * c.hours)
    for i in rng.integers(0, n_time, size=n_imp):
        impulses[i] += 10 ** (_u(rng, c.impulse_db) / 10)
    bursts = []
    for _ in range(_count(rng, c.bursts)):
        on = np.zeros(n_time)
        on[_interval(rng, c.burst_min, c.segment_s, n_time)] = 1.0
        bursts.append((on * 10 ** (_u(rng, c.burst_db) / 10), _u(rng, (-1.0, 1.0))))
    gap = np.zeros(n_time, bool)
    for _ in range(_count(rng, c.gaps)):
        gap[_interval(rng, c.gap_min, c.segment_s, n_time)] = True
    return impulses, bursts, gap


def _interval(rng, minutes, segment_s, n_time):
    """Return a random run of columns lasting a drawn number of ``minutes`` (a slice)."""
    length = max(1, int(_u(rng, minutes) * 60 / segment_s))
    a = int(rng.integers(0, max(1, n_time - length)))
    return slice(a, a + length)


def _draw(config, rng, n_time):
    """Every random parameter of one night, as per-column arrays."""
    c = config
    t_h = (np.arange(n_time) + 0.5) * c.segment_s / 3600.0  # hours after start
    p = {"t_h": t_h}
    p["b1"] = 10 ** (_u(rng, c.background) + _smooth_walk(rng, n_time, c.drift_db / 10 / 2))
    p["alpha"] = _u(rng, c.alpha)
    p["has_iar"] = bool(rng.random() < c.p_iar)
    combs = _draw_combs(c, rng, t_h)
    p["combs"] = combs if p["has_iar"] else []
    p["schumann"] = (_u(rng, c.schumann_hz), _u(rng, c.schumann_fwhm) / 2,
                     10 ** (_u(rng, c.schumann_snr_db) / 10)
                     * 10 ** _smooth_walk(rng, n_time, 0.1))
    events = []
    for _ in range(_count(rng, c.pc1_events)):
        dur = _u(rng, c.pc1_min) / 60
        t0 = _u(rng, (0, max(c.hours - dur, 0.01)))
        f0 = _u(rng, c.pc1_hz)
        env = _ramp(t_h, t0 + dur * 0.2, t0 + dur * 0.8, max(dur * 0.2, _MIN_FADE_H))
        rise = 1 + _u(rng, (0.1, 0.3)) * np.clip((t_h - t0) / max(dur, _MIN_FADE_H), 0, 1)
        events.append((f0 * rise, _u(rng, c.pc1_fwhm) / 2, 10 ** (_u(rng, c.pc1_snr_db) / 10)
                       * env))
    p["pc1"] = events
    p["lines"] = _draw_lines(c, rng, n_time)
    p["impulses"], p["bursts"], p["gap"] = _draw_columns(c, rng, n_time)
    p["broad_lines"] = _draw_broad_lines(c, rng, n_time)
    return p


def _reference(p, f):
    """Return the background PSD at frequencies ``f`` (any shape broadcasting with time)."""
    return p["b1"] * np.maximum(f, 0.05) ** -p["alpha"]


def _fringes(p):
    """Every fringe of every comb: centre, HWHM and peak PSD (fringe, time), comb index.

    A fringe above its comb's ``f_top`` has zero strength; the peak PSD is the strength
    times the background at the fringe's centre.
    """
    n_time = p["t_h"].size
    centres, hwhm, peak, comb_of = [np.empty((0, n_time))] * 3 + [np.empty(0, int)]
    for i, comb in enumerate(p["combs"]):
        k = np.arange(comb["strength"].shape[0])[:, None]
        c = comb["offset"] + (k + comb["phi"]) * comb["delta_f"][None, :]
        h = np.broadcast_to(comb["q"] * comb["delta_f"][None, :] / 2, c.shape)
        s = comb["strength"] * (c <= comb["f_top"]) * _reference(p, c)
        centres, hwhm = np.vstack([centres, c]), np.vstack([hwhm, h])
        peak = np.vstack([peak, s])
        comb_of = np.concatenate([comb_of, np.full(c.shape[0], i)])
    return centres, hwhm, peak, comb_of


def _other_parts(p, f):
    """Return the continuous PSD (frequency, time) of everything but fringes and lines.

    In two parts: the steady one (background, Schumann, Pc1) and the transient one (what
    the impulses, bursts and wandering lines add to the background).
    """
    f = np.asarray(f, float)[:, None]
    background = _reference(p, f)
    extra = p["impulses"][None, :] - 1.0
    for on, slope in p["bursts"]:
        extra = extra + on[None, :] * (np.maximum(f, 0.05) / 2.0) ** slope
    fs_, hw, amp = p["schumann"]
    steady = background + _reference(p, fs_) * amp[None, :] * _lorentz(f, fs_, hw)
    for centre, hw, amp in p["pc1"]:
        steady = steady + _reference(p, centre)[None, :] * amp[None, :] * _lorentz(
            f, centre[None, :], hw)
    transient = background * extra
    for path, sigma, snr, on in p["broad_lines"]:
        transient = transient + (snr * on * _reference(p, path))[None, :] * np.exp(
            -0.5 * ((f - path[None, :]) / sigma) ** 2)
    return steady, transient


def _other(p, f):
    """Return the continuous PSD (frequency, time) of everything but fringes and lines."""
    steady, transient = _other_parts(p, f)
    return steady + transient


def _fringe_psd(p, f):
    """Return the continuous PSD (frequency, time) of all fringes together."""
    f = np.asarray(f, float)[:, None]
    total = np.zeros((f.shape[0], p["t_h"].size))
    for c, h, s in zip(*_fringes(p)[:3], strict=True):
        total += s[None, :] * _lorentz(f, c[None, :], h[None, :])
    return total


def _line_power(p, freq_line, snr):
    """Line power (nT^2) whose Welch peak is ``snr`` times the background there."""
    return snr * _reference(p, freq_line)


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


_OVER = 8  # fine-grid oversampling of the FFT bins


def _window_kernel(g):
    """Return the Hann window's power kernel on a grid ``_OVER`` times finer than the bins.

    The expected Welch PSD is the continuous PSD convolved with it (``(kernel, step_hz,
    half)``: normalised to sum 1, ``2 half + 1`` taps).
    """
    half = 4 * _OVER  # +- 4 bins of the FFT
    win = signal.get_window("hann", g["nperseg"])
    kern = np.abs(np.fft.fft(win, g["nfft"] * _OVER)) ** 2
    kern = np.concatenate([kern[-half:], kern[:half + 1]])
    return kern / kern.sum(), g["fs"] / (g["nfft"] * _OVER), half


class _LorentzWelch:
    """Expected Welch PSD of a unit-peak Lorentzian: a table over offset and width.

    A fringe narrower than a few bins is broadened by the window, so its expected Welch
    PSD is the Lorentzian convolved with the window's kernel; tabulated once over the
    offset from the centre (on the kernel's fine grid, within ``span`` Hz) and the
    half-width (log-spaced), and interpolated bilinearly. Beyond ``span`` the kernel is
    far narrower than the distance and the Lorentzian itself is used.
    """

    def __init__(self, g, *, span=1.0, widths=(1e-6, 4.0), n_widths=96):
        kern, self.step, half = _window_kernel(g)
        m = int(round(span / self.step))
        offset = np.arange(-m - half, m + half + 1) * self.step
        self.log_h = np.linspace(np.log(widths[0]), np.log(widths[1]), n_widths)
        h = np.exp(self.log_h)[:, None]
        # cell averages of the Lorentzian: exact for fringes narrower than the fine grid
        raw = h / self.step * (np.arctan((offset[None, :] + self.step / 2) / h)
                               - np.arctan((offset[None, :] - self.step / 2) / h))
        self.table = ndimage.convolve1d(raw, kern, axis=1, mode="nearest")[:, half:-half]
        self.m, self.span = m, m * self.step

    def __call__(self, offset, hwhm):
        """Return the expected Welch PSD at ``offset`` (Hz) of unit-peak fringes ``hwhm``."""
        pos = np.clip((np.log(hwhm) - self.log_h[0]) / (self.log_h[1] - self.log_h[0]),
                      0, len(self.log_h) - 1.000001)
        i = pos.astype(int)
        w = pos - i
        d = np.clip(offset / self.step + self.m, 0, 2 * self.m - 1.000001)
        j = d.astype(int)
        v = d - j
        t = self.table
        inner = ((1 - w) * ((1 - v) * t[i, j] + v * t[i, j + 1])
                 + w * ((1 - v) * t[i + 1, j] + v * t[i + 1, j + 1]))
        return np.where(np.abs(offset) < self.span, inner, _lorentz(offset, 0.0, hwhm))


@lru_cache(maxsize=4)
def _lorentz_welch(fs, nperseg, nfft):
    """Return the :class:`_LorentzWelch` table of a grid, built once per grid."""
    return _LorentzWelch({"fs": fs, "nperseg": nperseg, "nfft": nfft})


def _bandpass_gain(config, freq):
    """Return the zero-phase band-pass power gain at ``freq`` (ones without a band-pass)."""
    if not config.bandpass:
        return np.ones_like(freq)
    sos = signal.butter(4, config.bandpass, btype="bandpass", fs=config.sampling_rate,
                        output="sos")
    _, h = signal.sosfreqz(sos, worN=freq, fs=config.sampling_rate)
    return np.abs(h) ** 4  # forwards and backwards: |H|^2 in amplitude


def _line_response(g, f_line):
    """Return the expected Welch PSD (kept bins, time) of unit-power sinusoids ``f_line``.

    A sinusoid of power P has expected Welch PSD ``P |W(f - f_l)|^2 / (fs sum w^2)``;
    ``f_line`` holds one frequency per column (a constant line is computed once).
    """
    win = signal.get_window("hann", g["nperseg"])
    steady = np.ptp(f_line) == 0
    freqs = f_line[:1] if steady else f_line
    phasor = win[None, :] * np.exp(2j * np.pi * freqs[:, None] / g["fs"]
                                   * np.arange(g["nperseg"])[None, :])
    resp = np.abs(np.fft.fft(phasor, g["nfft"], axis=1)[:, :g["nfft"] // 2 + 1]) ** 2
    resp = (resp / (g["fs"] * np.sum(win ** 2)))[:, g["keep"]].T
    return np.repeat(resp, f_line.size, axis=1) if steady else resp


def _expected_welch(p, config, g):
    """Return the expected Welch PSD at the spectrogram bins, parted for the label.

    ``{"fringe": all fringes, "other": everything else, "steady": everything else but
    the impulses, bursts and tonal lines, "own": the strongest fringe at each pixel,
    "index": that fringe's number}`` (frequency, time) after the band-pass's power
    response: the continuous PSD convolved with the window's kernel, lines as deltas seen
    through the window, fringes through :class:`_LorentzWelch`.
    """
    kern, step, half = _window_kernel(g)
    bins = g["freq"][g["keep"]]
    fine = bins[0] + np.arange(-half, _OVER * (len(bins) - 1) + half + 1) * step
    picks = half + _OVER * np.arange(len(bins))
    # the kernel is symmetric (|W(f)|^2 of a real window): correlation = convolution
    steady, transient = (ndimage.convolve1d(part, kern, axis=0, mode="constant")[picks]
                         for part in _other_parts(p, fine))
    other = steady + transient
    for f_line, snr, on in p["lines"]:
        other = other + _line_response(g, f_line) * (_line_power(p, f_line, snr) * on)[None, :]
    shape = other.shape
    total, own, index = np.zeros(shape), np.zeros(shape), np.full(shape, -1)
    table = _lorentz_welch(g["fs"], g["nperseg"], g["nfft"])
    for n, (c, h, s) in enumerate(zip(*_fringes(p)[:3], strict=True)):
        if not s.any():
            continue
        part = s[None, :] * table(bins[:, None] - c[None, :], h[None, :])
        total += part
        index = np.where(part > own, n, index)
        own = np.maximum(own, part)
    gain = _bandpass_gain(config, bins)[:, None]
    return {"fringe": total * gain, "other": other * gain, "steady": steady * gain,
            "own": own * gain, "index": index}


def _label(parts, config):
    """Label the fringe pixels.

    A pixel is a fringe pixel where one fringe's expected power stands ``label_db`` dB
    above the natural rest there (background, Schumann, Pc1 and the other fringes): the
    label is as wide as the fringe stands out of its background and neighbours, whatever
    its shape. Impulses, bursts and tonal lines are interference a fringe runs through (as
    a person drawing it would, and as the spacing needs); a gap has no label.
    """
    rest = parts["steady"] + parts["fringe"] - parts["own"]
    return (parts["own"] > 10 ** (config.label_db / 10) * rest) & (parts["index"] >= 0)


def _series(p, config, g, rng):
    """Return the 100 Hz time series: shaped Gaussian noise per segment plus line sinusoids."""
    seg, fs = g["seg"], g["fs"]
    f = np.fft.rfftfreq(seg, 1 / fs)
    psd = _fringe_psd(p, f) + _other(p, f)  # (f, time)
    scale = np.sqrt(psd * seg * fs / 4)
    spec = scale * (rng.standard_normal(psd.shape) + 1j * rng.standard_normal(psd.shape))
    spec[0] = 0
    x = np.fft.irfft(spec, n=seg, axis=0).T.ravel()  # (time * seg,)
    for f_line, snr, on in p["lines"]:
        amp = np.sqrt(2 * _line_power(p, f_line, snr))
        phase = 2 * np.pi * np.cumsum(np.repeat(f_line, seg)) / fs + rng.uniform(0, 2 * np.pi)
        x += np.repeat(amp * on, seg) * np.sin(phase)
    x[np.repeat(p["gap"], seg)] = np.nan
    return x


def _truth(p, mask, index):
    """Return the visible fringes' frequencies (fringe, time) and the spacing (time,).

    A fringe is visible in a column where one of its pixels is labelled. The spacing is
    observable where two neighbouring fringes of a comb are visible: the main comb's
    there, else a family's, else NaN.
    """
    centres, _, _, comb_of = _fringes(p)
    visible = np.stack([(mask & (index == n)).any(axis=0) for n in range(len(centres))]
                       ) if len(centres) else np.zeros(centres.shape, bool)
    f_true = np.where(visible, centres, np.nan)
    delta = np.full(mask.shape[1], np.nan)
    for i in reversed(range(len(p["combs"]))):  # the main comb (0) wins
        own = visible[comb_of == i]
        enough = (own[:-1] & own[1:]).any(axis=0)
        delta = np.where(enough, p["combs"][i]["delta_f"], delta)
    return f_true, delta


def _spectrogram(p, config, g, rng, total, start):
    """Return the spectrogram: sampled from ``total``, or computed from a rendered series."""
    if start is None:
        dof = welch_dof(g["nperseg"], g["step"], g["k"])
        return np.log10(total * rng.gamma(dof / 2, 2 / dof, size=total.shape)), None
    from ..io import timeseries_from_array
    from ..processing import bandpass, crop_band, welch_spectrogram

    series = timeseries_from_array(_series(p, config, g, rng), sampling_rate=g["fs"],
                                   start=start, channels=["H"])
    filtered = bandpass(series, low=config.bandpass[0], high=config.bandpass[1])
    spec = welch_spectrogram(filtered, segment_s=config.segment_s, nfft=config.nfft,
                             overlap=config.overlap)
    return crop_band(spec, fmin=config.fmin, fmax=config.fmax).values, series


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
        (fringe, time) in Hz of every fringe (main comb first, then the families), NaN
        where that fringe is not visible; ``delta_f`` (time) Hz, NaN where no two
        neighbouring fringes of a comb are visible; attrs ``has_iar``, ``seed`` and drawn night
        parameters. With ``timeseries=True``: ``(dataset, series)``.
    """
    config = IARConfig() if config is None else config
    rng = np.random.default_rng(seed)
    g = _grid(config)
    p = _draw(config, rng, g["n_time"])
    parts = _expected_welch(p, config, g)
    total = parts["fringe"] + parts["other"]
    freq = g["freq"][g["keep"]]
    mask = _label(parts, config) & ~p["gap"][None, :]
    start = pd.Timestamp(night).normalize() + pd.to_timedelta(config.start + ":00")
    times = start + pd.to_timedelta((np.arange(g["n_time"]) + 0.5) * config.segment_s, unit="s")
    spec, series = _spectrogram(p, config, g, rng, total, start if timeseries else None)
    spec = np.where(p["gap"][None, :], np.nan, spec)
    f_true, delta = _truth(p, mask, parts["index"])
    coords = {"frequency": ("frequency", freq, {"units": "Hz"}), "time": times.values}
    main = p["combs"][0] if p["combs"] else {"phi": np.nan, "q": np.nan}
    ds = xr.Dataset(
        {"spectrogram": (("frequency", "time"), spec,
                         {"units": "log10(nT^2/Hz)", "long_name": "power spectral density"}),
         "mask": (("frequency", "time"), mask.astype(np.uint8),
                  {"long_name": "IAR fringe label", "flag_values": [0, 1],
                   "definition": f"one fringe {config.label_db:g} dB above everything else"}),
         "expected": (("frequency", "time"), np.log10(total), {"units": "log10(nT^2/Hz)"}),
         "fringe_frequency": (("fringe", "time"), f_true, {"units": "Hz"}),
         "delta_f": (("time",), delta, {"units": "Hz", "long_name": "fringe spacing"})},
        coords=coords,
        attrs={"has_iar": int(p["has_iar"]), "seed": int(seed), "segment_s": config.segment_s,
               "nfft": config.nfft, "sampling_rate": config.sampling_rate,
               "phi": main["phi"], "width_fraction": main["q"], "alpha": p["alpha"],
               "n_families": max(len(p["combs"]) - 1, 0),
               "n_lines": len(p["lines"]) + len(p["broad_lines"]),
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
