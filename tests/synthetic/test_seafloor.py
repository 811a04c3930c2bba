import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.synthetic import (
    SeafloorConfig,
    layer_anomaly,
    polarity_at,
    read_gpts,
    sample_tracks,
    synthetic_seafloor,
    window_labels,
)

CM = 1e-7


@pytest.fixture(name="gpts", scope="module")
def fixture_gpts(request):
    from magnetar import datasets
    from magnetar.errors import DataNotFoundError

    try:
        return datasets.fetch("gpts/timescales.txt", download=False)
    except DataNotFoundError as err:
        import os

        if os.environ.get(datasets.STRICT_ENV):
            pytest.fail(f"registered data missing in strict mode: {err}")
        pytest.skip(f"real data not available: {err}")


def test_read_gpts_matches_published_ck95(gpts):
    chrons = read_gpts(gpts, scale="CK95")
    # Cande & Kent (1995): C1n 0-0.78 Ma, C1r.1n (Jaramillo) 0.99-1.07, C2n (Olduvai) 1.77-1.95
    first = chrons.iloc[:3][["young", "old"]].to_numpy()
    np.testing.assert_allclose(first, [[0, 0.78], [0.99, 1.07], [1.77, 1.95]])
    assert polarity_at([0.5, 0.9, 1.0, 1.8, 2.0], chrons).tolist() == [1, -1, 1, 1, -1]
    with pytest.raises(ValidationError, match="time scale"):
        polarity_at([500.0], chrons)


def test_stripe_widths_follow_rate_times_durations(gpts):
    cfg = SeafloorConfig(shape=(32, 400), spacing_km=0.5, half_rate=(25.0, 25.0), asymmetry=0.0,
                         rate_changes=0, ridge_azimuth=(0.0, 0.0),
                         segment_length=(1e5, 1e5), transform_offset=(5.0, 5.0),
                         regimes=(), noise_nT=0.0)
    ds = synthetic_seafloor(cfg, seed=1, timescale_path=gpts)
    age = ds["age"].values[16]
    x_km = ds["easting"].values / 1000.0
    ridge = x_km[np.argmin(age)]
    # age grows by 1 / (25 km/Myr) per km on both flanks
    right = x_km > ridge + 1
    slope = np.polyfit(x_km[right], age[right], 1)[0]
    assert slope == pytest.approx(1 / 25.0, rel=1e-6)
    # polarity reversals lie where 25 km/Myr times the published chron boundaries puts them
    pol = ds["polarity"].values[16]
    flips = x_km[1:][(np.diff(pol) != 0) & right[1:]] - ridge
    expected = 25.0 * np.array([0.78, 0.99, 1.07, 1.77, 1.95])
    np.testing.assert_allclose(flips[:5], expected, atol=0.5 + 1e-9)


def test_wide_strip_amplitude_matches_2d_analytic_formula():
    # vertical field and magnetisation (pole): dT = 2 Cm M (angle top - angle bottom)
    dx, width, z1, z2, m = 100.0, 20_000.0, 3000.0, 3500.0, 10.0
    x = (np.arange(4096) - 2048) * dx
    mag = np.tile(np.where(np.abs(x) <= width / 2, m, 0.0), (8, 1))
    dt = layer_anomaly(mag, spacing=dx, z_top=z1, thickness=z2 - z1,
                       field_direction=(90.0, 0.0))
    expected = 2 * CM * m * (2 * np.arctan(width / 2 / z1) - 2 * np.arctan(width / 2 / z2)) * 1e9
    assert dt[4, 2048] == pytest.approx(expected, rel=0.01)
    assert 100 < expected < 300  # hundreds of nT, as marine anomalies are


def test_skewness_follows_effective_inclination():
    dx = 200.0
    y = (np.arange(2048) - 1024) * dx
    strip = np.where(np.abs(y) <= 5000, 5.0, 0.0)
    ew = np.tile(strip[:, None], (1, 8))  # E-W striking body, profile along northing

    def profile(inclination, declination=0.0, body=ew):
        return layer_anomaly(body, spacing=dx, z_top=3000.0, thickness=500.0,
                             field_direction=(inclination, declination))

    pole = profile(90.0)[:, 4]
    np.testing.assert_allclose(pole[1024 - 200:1024], pole[1025:1025 + 200][::-1], atol=1e-6)
    # I = 45 deg, E-W strike: phase shift 180 - 2I = 90 deg, a purely antisymmetric anomaly
    skewed = profile(45.0)[:, 4]
    np.testing.assert_allclose(skewed[1024 - 200:1024], -skewed[1025:1025 + 200][::-1],
                               atol=1e-6 * np.abs(skewed).max() + 1e-6)
    # N-S strike with declination 0: no skew; amplitude scales as sin(I)^2
    ns = np.tile(strip[None, :], (8, 1))
    sym = profile(45.0, body=ns)[4]
    assert sym[1024] == pytest.approx(0.5 * profile(90.0, body=ns)[4][1024], rel=1e-6)


def test_layer_method_matches_direct_dipole_sum():
    # a small block of thin layer against the sum of its cells' dipole fields
    dx, n, z_top, t, m = 200.0, 256, 3000.0, 50.0, 10.0
    inc, dec = 45.0, 30.0
    mag = np.zeros((n, n))
    mag[126:131, 126:131] = m
    dt = layer_anomaly(mag, spacing=dx, z_top=z_top, thickness=t, field_direction=(inc, dec))
    i, d = np.radians(inc), np.radians(dec)
    f = np.array([np.cos(i) * np.sin(d), np.cos(i) * np.cos(d), np.sin(i)])  # east, north, down
    obs_y, obs_x = np.mgrid[96:160, 96:160]
    direct = np.zeros(obs_x.shape)
    for sy, sx in np.argwhere(mag > 0):
        r = np.stack([(obs_x - sx) * dx, (obs_y - sy) * dx,
                      np.full(obs_x.shape, -(z_top + t / 2))], -1)
        dist = np.linalg.norm(r, axis=-1)
        moment = m * dx * dx * t * f
        mr = r @ moment
        b = CM * (3 * mr[..., None] * r / dist[..., None] ** 2 - moment) / dist[..., None] ** 3
        direct += (b @ f) * 1e9
    np.testing.assert_allclose(dt[96:160, 96:160], direct, atol=0.02 * np.abs(direct).max())


def test_generator_is_seeded_and_labelled(gpts):
    a = synthetic_seafloor(seed=5, timescale_path=gpts)
    b = synthetic_seafloor(seed=5, timescale_path=gpts)
    np.testing.assert_array_equal(a["anomaly"].values, b["anomaly"].values)
    assert 30 < float(a["anomaly_clean"].std()) < 400
    lin = a["linear"].values
    assert lin.any()
    # labels follow regimes: every non-spreading node belongs to a regime patch
    assert (a["regime"].values[~lin] > 0).all()
    assert np.isnan(a["age"].values[~lin]).all()


def test_window_labels_rule():
    lin = np.zeros((10, 10), dtype=bool)
    lin[:, :8] = True  # columns 0-7 linear
    table = window_labels(lin, size=5, stride=5)
    by_pos = {(r.row, r.col): (r.fraction, r.label) for r in table.itertuples()}
    assert by_pos[(0, 0)] == (1.0, 1)
    assert by_pos[(0, 5)] == (pytest.approx(0.6), -1)  # 3 of 5 columns: ambiguous
    lin[:, :] = False
    lin[:, 0] = True
    assert set(window_labels(lin, size=5, stride=5)["label"]) == {0}


def test_sample_tracks_reads_grid_values():
    import xarray as xr

    grid = xr.DataArray(np.arange(400.0).reshape(20, 20), dims=("northing", "easting"),
                        coords={"northing": np.arange(20.0), "easting": np.arange(20.0) * 2})
    pts = sample_tracks(grid, n_tracks=3, seed=1)
    expected = pts["northing"].values * 20 + pts["easting"].values / 2
    np.testing.assert_allclose(pts["anomaly"].values, expected)


def test_ship_track_survey_regrids_tracks_and_leaves_gaps(gpts):
    pytest.importorskip("verde")
    base = SeafloorConfig(shape=(96, 96), noise_nT=0.0, nonlinear_fraction=(0.0, 0.0))
    few = synthetic_seafloor(SeafloorConfig(**{**base.__dict__, "tracks": 3,
                                               "track_maxdist_km": 4.0}),
                             seed=3, timescale_path=gpts)
    many = synthetic_seafloor(SeafloorConfig(**{**base.__dict__, "tracks": 30,
                                                "track_maxdist_km": 4.0}),
                              seed=3, timescale_path=gpts)
    full = synthetic_seafloor(base, seed=3, timescale_path=gpts)
    # the complete grid is kept and is the track-free generator's grid
    np.testing.assert_allclose(few["anomaly_full"], full["anomaly"])
    np.testing.assert_array_equal(few["linear"], full["linear"])
    gaps_few = float(np.isnan(few["anomaly"]).mean())
    gaps_many = float(np.isnan(many["anomaly"]).mean())
    assert 0.3 < gaps_few < 1.0
    assert gaps_many < gaps_few
    # on the tracks the survey reproduces the grid it sampled; between them it interpolates
    known = np.isfinite(many["anomaly"].values)
    err = np.abs(many["anomaly"].values[known] - many["anomaly_full"].values[known])
    scale = float(full["anomaly"].std())
    assert np.mean(err < 1e-6) > 0.1
    assert np.median(err) < 0.05 * scale
    assert np.sqrt(np.mean(err**2)) < 0.3 * scale
    assert many["anomaly"].attrs["n_tracks"] == 30
    with pytest.raises(ValidationError, match="tracks"):
        SeafloorConfig(tracks=-1)


class _CountingRng:
    """A Generator that counts cone centres drawn (``integers`` calls)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.centres = 0

    def integers(self, *args, **kwargs):
        self.centres += 1
        return self.rng.integers(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.rng, name)


@pytest.mark.parametrize(("side", "spacing", "cones"),
                         [(100, 1.0, 8),  # 10,000 km^2 / 35^2 km^2 = 8.2
                          (100, 0.5, 2),  # 2,500 km^2 -> 2.04
                          (4, 1.0, 2)])  # a tiny patch still gets two
def test_seamount_province_density_and_support(side, spacing, cones):
    from magnetar.synthetic._seafloor import _seamount_province

    mask = np.zeros((170, 170), bool)
    mask[30:30 + side, 30:30 + side] = True
    rng = _CountingRng(0)
    field = _seamount_province(rng, mask, spacing)
    assert rng.centres == cones
    # cones (radius <= 12 km, and >= 2 nodes) centred inside the patch: nothing beyond
    reach = int(np.ceil(max(12 / spacing, 2)))
    outside = np.ones_like(mask)
    outside[30 - reach:30 + side + reach, 30 - reach:30 + side + reach] = False
    assert np.abs(field[outside]).max() == 0
    assert np.abs(field).max() > 0
    # each cone peaks at 4-10 A/m: no node exceeds the sum of all peaks
    assert np.abs(field).max() <= 10 * cones
