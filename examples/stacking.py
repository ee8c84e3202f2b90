"""Stacking on the digits
========================

A bagged CNN, a K-fold dense net and a linear model.

The three base models are blended into a LogisticRegression meta-model twice:

1. by hand, through ``oof_predict``: out-of-fold probabilities on the training
   rows train the meta-model, fold-averaged probabilities on the test rows feed
   it (the K-fold net reuses the folds it was fitted with, ``cv="prefit"``);
2. through ``OOFStackingClassifier``: scikit-learn's ``StackingClassifier``,
   except that the K-fold net is trained once, on the stacker's folds, instead
   of once per fold and once more on all rows (``benchmarks/bench_stacking.py``
   measures the difference).

Every base model's test accuracy is printed beside the stack's, so you see
what stacking bought.

Run: ``python examples/stacking.py [--epochs 10] [--members 3] [--cv 5]`` (the
figure needs matplotlib: ``pip install -e ".[plot]"``). The defaults train
about 45 Keras members, which takes a few minutes on 2 CPU cores; the
documentation's gallery runs it with ``--epochs 5 --members 2 --cv 3``.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sk_kerasbag import (
    BaggedKerasClassifier,
    KFoldKerasClassifier,
    OOFStackingClassifier,
    load_digits_images,
    oof_predict,
)
from sk_kerasbag.models import basic_cnn, dense_net

# %%
# The base models
# ---------------
# A bagged CNN and a K-fold dense net from :mod:`sk_kerasbag.models`, and a
# logistic regression on the flattened pixels.


def flatten(images: np.ndarray) -> np.ndarray:
    """Images to table rows, for the linear model."""
    return images.reshape(len(images), -1)


def base_models(epochs: int, members: int, folds: int, random_state: int = 0) -> dict:
    """The three base models, by name."""
    return {
        "bagged CNN": BaggedKerasClassifier(
            basic_cnn, n_estimators=members, epochs=epochs, random_state=random_state
        ),
        "K-fold dense net": KFoldKerasClassifier(
            dense_net,
            n_splits=folds,
            epochs=2 * epochs,
            model__hidden=128,
            random_state=random_state,
        ),
        "logistic regression": make_pipeline(
            FunctionTransformer(flatten), LogisticRegression(C=0.1, max_iter=2000)
        ),
    }


# %%
# Blending by hand, and through ``OOFStackingClassifier``
# -------------------------------------------------------
# :func:`~sk_kerasbag.oof_predict` returns the out-of-fold predictions of the
# training rows and the fold-averaged predictions of the test rows; the
# meta-model learns on the first and predicts from the second.


def blend(
    X_train, y_train, X_test, y_test, *, epochs: int, members: int, cv: int
) -> tuple[dict, float]:
    """Blend through ``oof_predict``; return each base model's test accuracy, and the blend's."""
    train_features, test_features, base_scores = [], [], {}
    classes = np.unique(y_train)  # the probability columns, in order
    for name, model in base_models(epochs, members, cv).items():
        if isinstance(model, KFoldKerasClassifier):
            # A K-fold ensemble already holds out-of-fold predictions: fit once, reuse them.
            model.fit(X_train, y_train)
            oof, test = oof_predict(model, X_train, y_train, X_test, cv="prefit")
        else:
            oof, test = oof_predict(model, X_train, y_train, X_test, cv=cv)
        base_scores[name] = accuracy_score(y_test, classes[np.argmax(test, axis=1)])
        train_features.append(oof)
        test_features.append(test)
    meta = LogisticRegression(max_iter=2000).fit(np.hstack(train_features), y_train)
    return base_scores, meta.score(np.hstack(test_features), y_test)


def stack(X_train, y_train, X_test, y_test, *, epochs: int, members: int, cv: int) -> float:
    """The same three base models through ``OOFStackingClassifier``; return its test accuracy."""
    stacker = OOFStackingClassifier(
        list(base_models(epochs, members, cv).items()),
        final_estimator=LogisticRegression(max_iter=2000),
        cv=cv,
    ).fit(X_train, y_train)
    return stacker.score(X_test, y_test)


# %%
# Every model's test accuracy
# ---------------------------


def plot_scores(scores: dict[str, float]) -> None:
    """Show a bar per model: its test accuracy."""
    import matplotlib.pyplot as plt  # only the figure needs matplotlib

    _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    names = list(scores)
    bars = ax.barh(names[::-1], [scores[name] for name in names[::-1]], color="tab:blue")
    ax.bar_label(bars, fmt="%.4f", padding=3)
    low = min(scores.values())
    ax.set_xlim(low - 0.5 * (1 - low), 1)
    ax.set_xlabel("test accuracy")
    ax.set_title("Base models and their stacks")
    plt.show()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--cv", type=int, default=5)
    args = parser.parse_args()
    settings = dict(epochs=args.epochs, members=args.members, cv=args.cv)

    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    base_scores, blend_score = blend(X_train, y_train, X_test, y_test, **settings)
    stack_score = stack(X_train, y_train, X_test, y_test, **settings)

    best = max(base_scores.values())
    print(f"test accuracy on {len(X_test)} digits:")
    for name, score in base_scores.items():
        print(f"  {name:22s} {score:.4f}")
    for name, score in [("blend (oof_predict)", blend_score), ("OOFStacking", stack_score)]:
        print(f"  {name:22s} {score:.4f}   ({100 * (score - best):+.1f} points vs best base model)")
    plot_scores(
        {**base_scores, "blend (oof_predict)": blend_score, "OOFStacking": stack_score}
    )


if __name__ == "__main__":
    main()
