"""What a run learned, drawn: figures, latent-space views, the report.

The views' own limits sit here, in a module that imports nothing, so that the scripts read them and still answer
`--help` without TensorFlow.
"""

# Most digits `vae-reconstruct` draws, and the default size of the report's explorer grid.
MAX_RECONSTRUCTIONS = 100
EXPLORER_SIZE = 64
# A conditional run's explorer holds a grid for each digit 0-9; smaller ones keep the page near the size of one grid
# of EXPLORER_SIZE.
CONDITIONAL_EXPLORER_SIZE = 32
# Frames a second of the training GIF: a GIF frame lasts a whole number of centiseconds, at most 655.35 s, and
# browsers slow frames shorter than 20 ms down to 100 ms.
MIN_FPS = 0.1
MAX_FPS = 50.0
