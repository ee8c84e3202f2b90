"""Training from an image folder: memory as the folder grows, and speed against memory.

Generates 64x64 RGB JPEG images (10 classes) into a temporary folder, then:

1. memory: fits a DirectoryBaggedClassifier (one member, one epoch) on 2,000
   and on 20,000 images, each in a fresh process, and prints the peak RSS of
   each and their difference (goal: at most about 100 MB more for 20,000);
2. throughput: on 2,000 images, the median training epoch reading the folder
   against the same images already in memory (BaggedKerasClassifier on the
   array), in one process, best of interleaved repeats (goal: at most about
   1.5x); with the default decoded-image cache, and without it (cache_mb=0).

The temporary folder is deleted at the end.

Run: python benchmarks/bench_folders.py [--small 2000] [--large 20000] [--epochs 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import EpochTimer  # noqa: E402
from PIL import Image  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, DirectoryBaggedClassifier, list_images  # noqa: E402
from sk_kerasbag.folders import ImageFiles  # noqa: E402

SIZE = 64
IMAGES = dict(image_size=(SIZE, SIZE), color_mode="rgb", rescale=1 / 255)


def cnn(input_shape, n_classes):
    """A small CNN for 64x64 RGB images."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def write_images(root: Path, n: int, seed: int = 0) -> None:
    """n JPEGs in 10 class folders: a class colour gradient plus noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, SIZE, dtype=np.float32)
    for i in range(n):
        label = i % 10
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53) % 256])
        image = ramp[:, None, None] * colour + rng.normal(0, 20, (SIZE, SIZE, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            folder / f"{i:06d}.jpg", quality=90
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_folder_and_report_peak(folder: str) -> None:
    """Child process: one fit on the folder, then print the peak RSS."""
    DirectoryBaggedClassifier(cnn, n_estimators=1, epochs=1, random_state=0, **IMAGES).fit(folder)
    print(f"{peak_rss_mb():.1f}")


def peak_rss_of_fit(folder: Path) -> float:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def median_epoch(estimator, X, y) -> float:
    EpochTimer.durations = []
    estimator.set_params(callbacks=[EpochTimer()]).fit(X, y)
    return float(np.median(EpochTimer.durations[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        fit_folder_and_report_peak(args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small", Path(tmp) / "large"
        started = time.perf_counter()
        write_images(small, args.small)
        write_images(large, args.large)
        print(f"wrote {args.small} + {args.large} JPEGs of {SIZE}x{SIZE} RGB "
              f"in {time.perf_counter() - started:.0f} s")  # fmt: skip

        rss_small, rss_large = peak_rss_of_fit(small), peak_rss_of_fit(large)
        print(f"peak RSS, fit on {args.small:>6} images: {rss_small:7.1f} MB")
        print(f"peak RSS, fit on {args.large:>6} images: {rss_large:7.1f} MB "
              f"(+{rss_large - rss_small:.1f} MB; the images as float32 would take "
              f"{args.large * SIZE * SIZE * 3 * 4 / 2**20:.0f} MB)")  # fmt: skip

        paths, labels = list_images(small)
        in_memory = ImageFiles(paths, **IMAGES)[:]
        settings = dict(n_estimators=1, epochs=args.epochs, random_state=0)
        runs = {
            "memory": (BaggedKerasClassifier(cnn, **settings), in_memory),
            "folder": (DirectoryBaggedClassifier(cnn, **settings, **IMAGES), paths),
            "threads": (DirectoryBaggedClassifier(cnn, workers=2, **settings, **IMAGES), paths),
            "no cache": (DirectoryBaggedClassifier(cnn, cache_mb=0, **settings, **IMAGES), paths),
        }
        # Interleaved repeats, best of each: the machine's noise only ever adds time.
        best = {name: np.inf for name in runs}
        for _ in range(args.repeats):
            for name, (estimator, X) in runs.items():
                best[name] = min(best[name], median_epoch(estimator, X, labels))
        memory_epoch, folder_epoch, threads_epoch = best["memory"], best["folder"], best["threads"]
        print(f"backend: {keras.backend.backend()}; median epoch on {args.small} images:")
        print(f"  in memory:               {memory_epoch * 1000:7.1f} ms (ratio 1.00)")
        print(f"  from folder:             {folder_epoch * 1000:7.1f} ms "
              f"(ratio {folder_epoch / memory_epoch:.2f})")  # fmt: skip
        print(f"  from folder, 2 threads:  {threads_epoch * 1000:7.1f} ms "
              f"(ratio {threads_epoch / memory_epoch:.2f})")  # fmt: skip
        print(f"  from folder, no cache:   {best['no cache'] * 1000:7.1f} ms "
              f"(ratio {best['no cache'] / memory_epoch:.2f}; cache_mb=0: decoded every epoch)")  # fmt: skip


if __name__ == "__main__":
    main()
