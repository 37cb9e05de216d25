"""The residual network: convolutional blocks whose depth follows the image's side, for images of 16 to 256 pixels.

Each resolution gets a residual block (He et al. 2016, with the pre-activation order of "Identity Mappings in Deep
Residual Networks"), and a stride-2 convolution halves the side until it is at most `vae.config.RESNET_GRID`; the
decoder mirrors it with stride-2 transposed convolutions. The width at a side s is about
`vae.config.RESNET_WIDTH_AREA` / s, so that every resolution costs about the same arithmetic and one network serves
every size. The last convolution of every block starts at zero, so that each block starts as the identity: a deep
network then trains at the learning rate of a shallow one (Goyal et al. 2017, section 5.1, "zero gamma").
"""

from __future__ import annotations

import keras

from vae.config import resnet_sides, resnet_width

ACTIVATION = "silu"


def residual_block(x, width: int, name: str):
    """x + conv(silu(conv(silu(x)))), at the width of x."""
    h = keras.layers.Activation(ACTIVATION, name=f"{name}_activation_1")(x)
    h = keras.layers.Conv2D(width, 3, padding="same", name=f"{name}_conv_1")(h)
    h = keras.layers.Activation(ACTIVATION, name=f"{name}_activation_2")(h)
    h = keras.layers.Conv2D(width, 3, padding="same", kernel_initializer="zeros", name=f"{name}_conv_2")(h)
    return keras.layers.Add(name=f"{name}_sum")([x, h])


def through_resolutions(x, sides, blocks: str, resample, resampling: str):
    """A residual block at each of `sides` in turn, with a stride-2 `resample` layer (a convolution that halves the
    side, or a transposed one that doubles it) between one resolution and the next."""
    for level, side in enumerate(sides):
        x = residual_block(x, resnet_width(side), f"{blocks}_{level}")
        if level + 1 < len(sides):
            width = resnet_width(sides[level + 1])
            x = resample(width, 3, strides=2, padding="same", name=f"{resampling}_{level}")(x)
    return x


def residual_features(images):
    """The encoder's features of `images`: blocks from the full side down to the grid, flattened."""
    sides = resnet_sides(images.shape[1])
    x = keras.layers.Conv2D(resnet_width(sides[0]), 3, padding="same", name="stem")(images)
    x = through_resolutions(x, sides, "down", keras.layers.Conv2D, "downsample")
    x = keras.layers.Activation(ACTIVATION, name="features_activation")(x)
    return keras.layers.Flatten(name="flatten")(x)


def residual_pixels(x, image_shape, parameters: int):
    """The decoder's `parameters` maps per channel of images of `image_shape`, from a latent vector x: a dense layer
    onto the grid, then blocks from the grid up to the full side."""
    sides = list(reversed(resnet_sides(image_shape[0])))
    grid, width = sides[0], resnet_width(sides[0])
    x = keras.layers.Dense(grid * grid * width, name="hidden")(x)
    x = keras.layers.Reshape((grid, grid, width), name="reshape")(x)
    x = through_resolutions(x, sides, "up", keras.layers.Conv2DTranspose, "upsample")
    x = keras.layers.Activation(ACTIVATION, name="pixels_activation")(x)
    return keras.layers.Conv2D(image_shape[2] * parameters, 3, padding="same", name="outputs", dtype="float32")(x)
