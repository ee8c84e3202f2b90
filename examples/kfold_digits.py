"""K-fold dense nets on the digits
===============================

Out-of-fold predictions for stacking, then test predictions:
:class:`~sk_kerasbag.KFoldKerasClassifier` trains one dense net
(:func:`sk_kerasbag.models.dense_net`) per fold; member ``k`` predicts fold
``k``, which it never trained on, so ``oof_proba_`` is an honest feature for a
meta-model. A Keras ``EarlyStopping`` callback is copied for every member.

Run: ``python examples/kfold_digits.py`` (the figure needs matplotlib:
``pip install -e ".[plot]"``).
"""

import keras
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from sk_kerasbag import KFoldKerasClassifier, load_digits_images, plot_history
from sk_kerasbag.models import dense_net

X, y = load_digits_images()
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

kfold = KFoldKerasClassifier(
    dense_net,
    n_splits=5,
    epochs=30,
    validation_split=0.15,
    callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)],
    model__hidden=128,
    random_state=0,
).fit(X_train, y_train)

# %%
# The out-of-fold score, the shape of the stacking features, how long each
# fold trained, and the test accuracy of the five members' mean.

print(f"out-of-fold accuracy: {kfold.oof_score_:.4f}")
print(f"out-of-fold probabilities for stacking: {kfold.oof_proba_.shape}")
print(f"epochs trained per fold (early stopping): {[len(h['loss']) for h in kfold.histories_]}")
print(f"test accuracy of the 5-fold ensemble: {kfold.score(X_test, y_test):.4f}")

# %%
# Each fold's accuracy curves, on its training rows (solid) and its validation
# rows (dashed); early stopping ends each fold on its own.

plot_history(kfold, metric="accuracy")
plt.show()
