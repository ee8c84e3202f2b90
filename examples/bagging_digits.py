"""Bagged CNN on scikit-learn's digits images: members vs. ensemble, and out-of-bag score.

Run: python examples/bagging_digits.py
"""

from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from sk_kerasbag import BaggedKerasClassifier, load_digits_images
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

for i, proba in enumerate(ensemble.member_predictions(X_test), start=1):
    print(f"member {i}: test accuracy {accuracy_score(y_test, proba.argmax(axis=1)):.4f}")
print(f"ensemble: test accuracy {ensemble.score(X_test, y_test):.4f}")
print(f"out-of-bag accuracy {ensemble.oob_score_:.4f}")
# Each member holds (predicts with) its best epoch by validation loss.
print(f"held epoch per member: {ensemble.fit_statistics_['held_epoch'].tolist()}")
