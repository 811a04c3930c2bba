"""Marine linear magnetic anomalies.

Marine linear magnetic anomalies: grid preprocessing, window classifiers, calibrated maps
(docs/lma.md, docs/marine-grids.md).
"""
