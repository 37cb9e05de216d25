"""The model: networks, latent structures, priors, objectives, conditioning and the Keras trainer.

The model's own choices and limits sit here, in a module that imports nothing, so that the scripts read them and
still answer `--help` without TensorFlow.
"""

# The networks between the images and the latent variables: the keras.io convolutional ones, dense layers, or the
# residual network whose depth follows the side (`vae.model.residual`).
NETWORKS = ("conv", "mlp", "resnet")
# The lower stochastic layer z1 of the "hierarchical" architecture (`vae.config.ARCHITECTURE_PARTS`) has this many
# dimensions, as in Burda et al. 2015, section 5; z2, the top, has `latent_dim`.
HIERARCHICAL_LOWER_LATENT_DIM = 100
# How a run is spread over devices and in which precision it computes (`vae.model.distribution`): they describe the
# machine, not the model, so they are options of `vae-train` but no fields of the config.
STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("off", "auto", "float16", "bfloat16")
# Digits per call when a trained model encodes, decodes or scores many of them without sampling: large enough to
# keep the cores busy, small enough for about 75 MB of convolutional activations.
INFERENCE_BATCH_SIZE = 500
# The latent grid of the training snapshots and of `vae-plot latent-grid --quantiles` spans these quantiles of
# N(0, 1), a frame that does not move as the model learns.
GAUSSIAN_QUANTILES = (0.05, 0.95)
# The latent grid's half-width: the prior N(0, I) has almost all its mass within 5, and a decoder fed 1e308 draws
# nothing but NaN.
MAX_GRID_SPAN = 100.0
