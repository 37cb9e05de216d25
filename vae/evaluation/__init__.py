"""Held-out evaluation: the estimators, per-image scores, outliers and sample quality.

The evaluation's own limits sit here, in a module that imports nothing, so that the scripts read them and still
answer `--help` without TensorFlow.
"""

# vae-eval: importance samples per digit, and digits per batch. The noise is drawn per batch, so the batch size is
# part of what a seed's numbers depend on, and stays apart from the inference batch (`vae.model.INFERENCE_BATCH_SIZE`).
IMPORTANCE_SAMPLES = 100
EVALUATION_BATCH_SIZE = 100
# Images per batch when images are scored each on its own (vae-encode): every batch is padded to exactly this many,
# because the kernels' floating-point sums depend on the number of rows. Small, so that one image costs little; the
# decoder still sees up to 2,000 (sample, image) rows at once.
SCORING_BATCH_SIZE = 16
# vae-eval --sample-quality: images drawn (and real ones for the floor). Precision and recall need more points than
# their k = 3 neighbours; above 50,000 the pairwise distances take minutes. A temperature scales the prior's spread:
# beyond 4 the decoder sees latent points the prior almost never draws.
SAMPLE_QUALITY_SAMPLES = 10_000
MIN_SAMPLE_QUALITY_SAMPLES = 4
MAX_SAMPLE_QUALITY_SAMPLES = 50_000
MAX_TEMPERATURE = 4.0
