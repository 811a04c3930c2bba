"""IAR detection: spectrograms, U-Net fringe masks, resonance parameters (docs/iar.md)."""
