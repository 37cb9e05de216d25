"""Data sources: MNIST-style IDX files, folders of images, and the input pipeline."""
