"""The model: networks, latent structures, priors, objectives, conditioning and the Keras trainer."""
