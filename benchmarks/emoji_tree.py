"""Write Google's emoji (the npm package emoji-datasource-google) as a folder of classes with a held-out test split.

    npm pack emoji-datasource-google@16.0.0
    python benchmarks/emoji_tree.py emoji-datasource-google-16.0.0.tgz /tmp/emoji

The package holds 3,786 64x64 RGBA PNGs (Apache-2.0): 1,911 emoji and 1,875 skin-tone variants of them, each with
its category in `emoji.json`. Every image is drawn over white (its alpha is coverage) as an RGB PNG under
OUT/train/<category>/ or OUT/test/<category>/. The split is stratified by category and keeps an emoji and all its
skin-tone variants on one side, so the test split holds no near copy of a training image; a tenth of each category's
emoji is held out, drawn with --seed. The five "Component" images (skin-tone swatches and hair parts, not emoji) are
left out: nine categories remain.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections import defaultdict
from pathlib import Path

import click
import numpy as np
from PIL import Image

LEFT_OUT = ("Component",)
IMAGE_DIR = "package/img/google/64/"


def folder_name(category: str) -> str:
    """'Smileys & Emotion' -> 'smileys-and-emotion'."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower().replace("&", "and")).strip("-")


def over_white(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("RGB")


@click.command()
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--test-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def main(tarball, output, test_fraction, seed):
    if output.exists() and any(output.iterdir()):
        raise click.ClickException(f"{output} is not empty")
    with tarfile.open(tarball) as archive:
        emoji = json.load(archive.extractfile("package/emoji.json"))
        files = {member.name: member for member in archive.getmembers() if member.name.startswith(IMAGE_DIR)}
        # An emoji's images: its own and its skin-tone variants', which share its category and its side of the split.
        groups = defaultdict(list)
        for entry in emoji:
            if entry["category"] in LEFT_OUT or not entry.get("has_img_google"):
                continue
            images = [entry["image"]]
            images += [variant["image"] for variant in entry.get("skin_variations", {}).values()]
            present = [name for name in images if IMAGE_DIR + name in files]
            groups[entry["category"]].append(present)
        rng = np.random.default_rng(seed)
        counts = defaultdict(int)
        for category in sorted(groups):
            members = groups[category]
            order = rng.permutation(len(members))
            held_out = set(order[: max(1, round(test_fraction * len(members)))].tolist())
            for index, names in enumerate(members):
                split = "test" if index in held_out else "train"
                folder = output / split / folder_name(category)
                folder.mkdir(parents=True, exist_ok=True)
                for name in names:
                    content = archive.extractfile(files[IMAGE_DIR + name]).read()
                    over_white(content).save(folder / name)
                    counts[split] += 1
    click.echo(
        f"wrote {counts['train']:,} training and {counts['test']:,} test images of {len(groups)} categories to {output}"
    )


if __name__ == "__main__":
    main()
