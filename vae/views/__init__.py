"""What a run learned, drawn: figures, latent-space views, the report."""
