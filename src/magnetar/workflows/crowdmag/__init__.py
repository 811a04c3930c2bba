"""CrowdMag denoising.

CrowdMag denoising: tile corpus, autoencoder training and evaluation, recordings to maps
(docs/crowdmag.md).
"""
