"""Training from image folders
============================

The digits written as PNG files, read back lazily.

Writes scikit-learn's digits as 8x8 PNGs into a temporary folder (one
sub-folder per digit for training, a flat folder for testing), then

1. trains a DirectoryBaggedClassifier on the training folder, with
   augmentation, and predicts the test folder (rows in ``list_images`` order);
2. trains a DirectoryKFoldClassifier on a list of paths and reports its
   out-of-fold accuracy, which the old keraspipelines could not do for folders.

Nothing is written into the folders by the estimators; the temporary folder
is deleted at the end.

Run: ``python examples/folder_images.py [--epochs 15]`` (the figure needs
matplotlib: ``pip install -e ".[plot]"``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from sk_kerasbag import (
    DirectoryBaggedClassifier,
    DirectoryKFoldClassifier,
    list_images,
    load_digits_images,
)
from sk_kerasbag.models import basic_cnn

# %%
# Writing the images
# ------------------

IMAGES = dict(image_size=(8, 8), color_mode="grayscale", rescale=1 / 255)


def write_digits(root: Path) -> tuple[Path, Path, dict[str, int]]:
    """Training images in class folders, test images in one flat folder; test labels by file."""
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    train, test = root / "train", root / "test"
    for i, (image, label) in enumerate(zip(X_train, y_train)):
        _save(image, train / f"digit_{label}" / f"{i:04d}.png")
    test_labels = {}
    for i, (image, label) in enumerate(zip(X_test, y_test)):
        _save(image, test / f"{i:04d}.png")
        test_labels[f"{i:04d}.png"] = f"digit_{label}"
    return train, test, test_labels


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image[:, :, 0] * 255).round().astype(np.uint8)).save(path)


# %%
# Training from the folder, and from a list of paths
# --------------------------------------------------


def run(root: Path, *, epochs: int, members: int = 3, folds: int = 3) -> dict[str, float]:
    """Train both estimators from files below ``root``; return their accuracies."""
    train, test, test_labels = write_digits(root)
    test_paths, _ = list_images(test)
    y_test = np.array([test_labels[Path(p).name] for p in test_paths])

    bagged = DirectoryBaggedClassifier(
        basic_cnn,
        n_estimators=members,
        epochs=epochs,
        augmentation={"rotation_range": 8, "width_shift_range": 0.1, "height_shift_range": 0.1},
        random_state=0,
        **IMAGES,
    ).fit(train)
    predicted = bagged.predict(test)  # rows in list_images(test) order

    paths, labels = list_images(train)
    kfold = DirectoryKFoldClassifier(
        basic_cnn, n_splits=folds, epochs=epochs, random_state=0, **IMAGES
    ).fit(paths, labels)
    return {
        "bagged, test folder": float(np.mean(predicted == y_test)),
        "bagged + TTA (tta=4), test folder": bagged.set_params(tta=4).score(test_paths, y_test),
        "K-fold, out-of-fold": kfold.oof_score_,
        "K-fold, test folder": kfold.score(test_paths, y_test),
    }


# %%
# Scores, and the images as files
# -------------------------------


def plot_classes(train: Path) -> None:
    """Draw the first training image of each class folder, read back from its file."""
    import matplotlib.pyplot as plt  # only the figure needs matplotlib

    paths, labels = list_images(train)
    classes = sorted(set(labels))
    _, axes = plt.subplots(1, len(classes), figsize=(10, 1.5), layout="constrained")
    for ax, name in zip(axes, classes):
        path = Path(paths[list(labels).index(name)])
        with Image.open(path) as image:
            ax.imshow(np.asarray(image), cmap="gray_r")
        ax.set_title(f"{name}/\n{path.name}", fontsize="small")
        ax.set_axis_off()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scores = run(Path(tmp), epochs=args.epochs)
        plot_classes(Path(tmp) / "train")
    for name, score in scores.items():
        print(f"{name:36s} accuracy {score:.4f}")

    import matplotlib.pyplot as plt

    plt.show()


if __name__ == "__main__":
    main()
