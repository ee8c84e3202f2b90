"""Bagged CNN on the digits
========================

Members vs. ensemble, and the out-of-bag score: five small CNNs
(:func:`sk_kerasbag.models.basic_cnn`), each trained on its own bootstrap
sample of scikit-learn's 8x8 digits images, are averaged by
:class:`~sk_kerasbag.BaggedKerasClassifier`. Each member validates on a share
of its own training rows and holds (predicts with) its best epoch; the rows a
member never saw give the out-of-bag score.

Run: ``python examples/bagging_digits.py`` (the figure needs matplotlib:
``pip install -e ".[plot]"``).
"""

import matplotlib.pyplot as plt
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from sk_kerasbag import BaggedKerasClassifier, load_digits_images, plot_history
from sk_kerasbag.models import basic_cnn

X, y = load_digits_images()
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

ensemble = BaggedKerasClassifier(
    basic_cnn,
    n_estimators=5,
    epochs=8,
    oob_score=True,
    validation_split=0.1,  # each member validates on its own training rows
    model__filters=8,
    random_state=0,
).fit(X_train, y_train)

# %%
# Each member's test accuracy, then the ensemble's (the mean of the members'
# probabilities) and the out-of-bag accuracy on the training rows.

for i, proba in enumerate(ensemble.member_predictions(X_test), start=1):
    print(f"member {i}: test accuracy {accuracy_score(y_test, proba.argmax(axis=1)):.4f}")
print(f"ensemble: test accuracy {ensemble.score(X_test, y_test):.4f}")
print(f"out-of-bag accuracy {ensemble.oob_score_:.4f}")
# Each member holds (predicts with) its best epoch by validation loss.
print(f"held epoch per member: {ensemble.fit_statistics_['held_epoch'].tolist()}")

# %%
# The training curves: per member, the training loss (solid) and the loss on
# its validation rows (dashed); a dot marks the epoch whose weights it holds.

plot_history(ensemble, metric="loss")
plt.show()
