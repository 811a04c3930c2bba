"""Options of the cleaning method: the single source of every default.

``CleaningConfig`` is read from the ``[clean]`` table of a TOML file (``--config``), with
command-line options overriding it; the resolved config is written beside every output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ValidationError

__all__ = ["DEFAULT_K", "RULES", "CleaningConfig"]

RULES = ("peer", "published", "sharp")
DEFAULT_K = {"peer": 6.0, "published": 3.0, "sharp": 3.0}
MIN_CUTOFF_S = 600.0  # the published 1/600 Hz cut-off
CUTOFF_SAMPLES = 30  # the cut-off period spans at least this many samples


@dataclass(frozen=True)
class CleaningConfig:
    """Options of the cleaning method (all in samples unless stated).

    Attributes
    ----------
    cutoff_period_s : float or None
        High-pass cut-off period in seconds. ``None`` (default) chooses it from the cadence:
        ``max(600 s, 30 samples)`` — 600 s (the published 1/600 Hz) at 1-second data and
        1800 s at 1-minute data, where 600 s would be only 10 samples and a 1-5 sample spike
        would lose much of its amplitude to the filter's transition band (measured: quiet-time
        recall of 6-sigma spikes 0.64 at 600 s, 1.0 at 1800 s; docs/cleaning.md).
    order : int
        Butterworth order.
    zero_phase : bool
        Forward-backward filtering (batch). False gives the causal filter streaming uses.
    max_gap : int
        Gaps up to this length are bridged before zero-phase filtering.
    sigma_window, sigma_trim : int, float
        Noise sigma of the published rules: sliding-std window and the fraction trimmed at
        each end (the peer rule uses ``mad_window`` and ``sigma_trim``).
    k : float or None
        Detection threshold in multiples of sigma. ``None``: 6 for the peer rule (its sigma
        is a MAD of the spike statistic), 3 for the published rules (the study also used 6
        and 60). See :meth:`threshold`.
    min_stations : int
        An event seen at this many stations or more is natural and kept.
    tolerance : int
        Peers' exceedances within +-tolerance samples count as seeing the event.
    across_components : bool
        Count a peer's exceedance in any component (default: the same component).
    pad : int
        Samples replaced on each side of an interference event.
    rule : str
        ``"peer"`` (default; :mod:`magnetar.processing._peer`), ``"published"`` (the
        coincidence rule) or ``"sharp"`` (also catches one-station spikes during natural
        activity; :mod:`magnetar.processing._coincidence`).
    sharp_window : int
        Running-median length of the sharp rule (odd).
    amplitude_ratio : float
        Peer and sharp rules: a peer shares an event only if its amplitude in its own sigma
        units is at least the event's divided by this ratio.
    max_width, flank : int
        Peer rule: longest spike tested and the flank samples fitted on each side.
    shape_factor : float
        Peer rule: a spike's departure must exceed its flanks' misfit by this factor.
    peer_shape : float
        Peer rule: a peer confirms or refutes a station's spike only where its own feature
        is spike-shaped (departure above this multiple of its flanks' misfit); a spike whose
        only strong peers are not is flagged as undetermined (kept, reported). 0: off.
    lags : int
        Peer rule: peers' samples at lags -lags..+lags predict a station.
    fit_block_s : float
        Peer rule: the prediction is refitted every this many seconds (at least 60 samples).
    mad_window : int
        Peer rule: block length (samples) of the MAD behind the robust sigma.
    max_peers : int or None
        Peer rule: each station is predicted from its this-many best-correlated peers (the
        nearest, in practice), so the cost grows linearly with the network, not as its
        square; ``None``: every peer. Networks of up to ``max_peers + 1`` stations are
        unaffected.
    period_s : float or None
        Peer rule: noise sigmas, peer choice and fit blocks are estimated per period of this
        many seconds aligned to UTC midnight (86400: per day, as the archive path does, so
        that archive and in-memory runs decide identically); ``None``: over the whole record.
    incoherence : float
        Peer rule: where the residual's local sigma exceeds this multiple of its sigma the
        peers do not predict the station; spikes there are flagged, not replaced.
    review : bool
        Peer rule: a candidate whose flanks are too rough for the shape test is tested
        again against the station's own dynamics (a two-sided interpolator learnt over the
        ``mad_window`` samples around it, ``2 flank`` samples a side); beyond ``k`` of its
        local sigmas it is flagged for review where it would have been replaced, never
        replaced (:mod:`magnetar.processing._interpolation`). False: the shape test alone.
    peer_gain : bool
        Scale peers' variations by their fitted amplitude ratio before replacing.
    sync_component : str or None
        Component used for the synchronisation check (default: the first).
    sync_max_lag : int
        Largest lag tested by the synchronisation check.
    apply_sync : bool
        Shift stations by the lags found before cleaning.
    components : tuple of str or None
        Components to clean; default: all the stations share.
    """

    cutoff_period_s: float | None = None
    order: int = 4
    zero_phase: bool = True
    max_gap: int = 10
    sigma_window: int = 200
    sigma_trim: float = 0.3
    k: float | None = None
    min_stations: int = 2
    tolerance: int = 1
    across_components: bool = False
    pad: int = 1
    rule: str = "peer"
    sharp_window: int = 11
    amplitude_ratio: float = 4.0
    max_width: int = 3
    flank: int = 3
    shape_factor: float = 5.0
    peer_shape: float = 3.0
    lags: int = 2
    fit_block_s: float = 10800.0
    mad_window: int = 121
    incoherence: float = 3.0
    max_peers: int | None = 6
    review: bool = True
    period_s: float | None = None
    peer_gain: bool = True
    sync_component: str | None = None
    sync_max_lag: int = 5
    apply_sync: bool = False
    components: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.rule not in RULES:
            msg = f"rule must be one of {', '.join(RULES)}; got {self.rule!r}"
            raise ValidationError(msg)
        positive = ("cutoff_period_s", "k", "amplitude_ratio", "shape_factor", "fit_block_s",
                    "incoherence", "period_s")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                msg = f"{name} must be a positive finite number, got {value}"
                raise ValidationError(msg)
        for name in ("tolerance", "pad", "max_gap", "sync_max_lag", "lags", "peer_shape"):
            if not getattr(self, name) >= 0:  # NaN too
                msg = f"{name} must be >= 0, got {getattr(self, name)}"
                raise ValidationError(msg)
        if self.max_peers is not None and self.max_peers < 1:
            msg = f"max_peers must be >= 1 or None, got {self.max_peers}"
            raise ValidationError(msg)
        for name in ("min_stations", "max_width", "flank", "order"):
            if getattr(self, name) < 1:
                msg = f"{name} must be >= 1, got {getattr(self, name)}"
                raise ValidationError(msg)
        if self.sharp_window < 3 or self.sharp_window % 2 == 0:
            msg = f"sharp_window must be odd and >= 3, got {self.sharp_window}"
            raise ValidationError(msg)
        if self.mad_window < 3:
            msg = f"mad_window must be >= 3 samples, got {self.mad_window}"
            raise ValidationError(msg)

    @property
    def threshold(self):
        """The detection threshold in use: ``k``, or the rule's default when ``k`` is None."""
        return float(self.k) if self.k is not None else DEFAULT_K[self.rule]

    def cutoff_for(self, sampling_period):
        """High-pass cut-off period in seconds for data of this sampling period (s)."""
        if self.cutoff_period_s is not None:
            return float(self.cutoff_period_s)
        return max(MIN_CUTOFF_S, CUTOFF_SAMPLES * float(sampling_period))
