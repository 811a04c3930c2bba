#!/bin/sh
# Run the grid preprocessing steps on every real grid and commit the stage figures.
# Usage: MAGNETAR_DATA_DIR=../shared/data sh benchmarks/real_grids.sh [.venv/bin/magnetar]
set -e
M=${1:-.venv/bin/magnetar}
D=${MAGNETAR_DATA_DIR:?set MAGNETAR_DATA_DIR}
O=${OUT:-/tmp/magnetar-real-grids}
F=docs/figures/grids
mkdir -p "$O" "$F"
$M lma preprocess "$D/grids/EMAG2_V2_1x1.grd" --outliers --svd 0.98 --diffuse 1,6,5 --out "$O/emag2v2.nc"
$M lma preprocess "$D/grids/emag2_v2_ne_brazil_xyz.txt" --outliers --regrid 0.05 --regrid-method cubic --svd 0.98 --diffuse 1,6,5 --out "$O/ne_brazil.nc"
$M lma preprocess "$D/grids/emag2v3_tiles/gts/example_675.png" --outliers --svd 0.98 --diffuse 1,6,5 --out "$O/emag2v3_675.nc"
$M lma preprocess "$D/grids/emag2v3_tiles/gts/mix1.png" --outliers --svd 0.98 --diffuse 1,6,5 --out "$O/emag2v3_mix1.nc"
$M lma preprocess "$D/surveys/rio-magnetic.csv.xz" --outliers --regrid 0.004 --regrid-method cubic --svd 0.98 --diffuse 1,6,5 --out "$O/rio.nc"
$M lma preprocess "$D/grids/01010006.nc" --outliers --regrid 0.05 --regrid-method linear --out "$O/cruise_01010006.nc"
for f in emag2v2 ne_brazil emag2v3_675 emag2v3_mix1 rio cruise_01010006; do cp "$O/$f.stages.png" "$F/$f.png"; done
