"""Data sources: MNIST-style IDX files, folders of images, and the input pipeline.

sources     the data source of a run, chosen from its config (`source_of`), and a new run's data
datasets    the `Dataset` record, and the IDX data sets loaded (`load_dataset`) or downloaded
idx         IDX and npz files: reading, checking, writing
layouts     a folder of images: its layout, classes and files
folders     a folder's images read at a run's shape
cache       the decode cache of folders read before
manifests   what a run records of its folder, and the checks against it
decode      the one image decoder, of folders and of `vae-encode`
images      new images made into MNIST digits (`vae-encode`)
pipeline    the tf.data pipelines of training and evaluation
"""
