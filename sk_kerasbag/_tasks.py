"""Classification and regression: targets in, predictions out.

A task mixin knows how to turn ``y`` into what the member's loss expects and
how to turn a member's raw output back into probabilities or predictions. It
knows nothing about how rows are split between members.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from ._builder import OutputSpec


class KerasClassifierMixin(ClassifierMixin):
    """Target handling and soft voting for the classifiers."""

    _target_validation: dict = {}

    def _outputs_probabilities(self) -> bool:
        # Before fit it is not known yet; predict_proba then says "not fitted".
        spec = getattr(self, "_output_spec", None)
        if spec is not None and not spec.probabilities:
            raise AttributeError(
                f"predict_proba is not available: the members output scores, not "
                f"probabilities (their loss is {spec.loss_name!r} and their last layer "
                "has no softmax or sigmoid); use decision_function."
            )
        return True

    def _outputs_scores(self) -> bool:
        spec = getattr(self, "_output_spec", None)
        if spec is None or spec.probabilities:
            raise AttributeError(
                "decision_function is available when the members output scores "
                "(say, a linear head trained with a hinge loss); these output "
                "probabilities: use predict_proba."
            )
        return True

    @available_if(_outputs_probabilities)
    def predict_proba(self, X) -> np.ndarray:
        """Mean of the members' class probabilities (soft voting).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities in ``classes_`` order; each row sums to 1.
        """
        return self._mean_member_output(X)

    @available_if(_outputs_probabilities)
    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba` (the members' mean probabilities).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities in ``classes_`` order; ``-inf`` where every
            member gives a class probability 0.
        """
        with np.errstate(divide="ignore"):  # log(0) is -inf, the right answer, not a problem
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Class with the highest mean probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        output = self._mean_member_output(X)  # first: it says if not fitted
        return self.classes_[np.argmax(output, axis=1)]

    @available_if(_outputs_scores)
    def decision_function(self, X) -> np.ndarray:
        """Mean of the members' scores, when they output scores rather than probabilities.

        Available when the members' loss is not a cross-entropy and their last
        layer has no softmax or sigmoid (a linear head trained with a hinge
        loss, say); ``predict_proba`` is not offered then, as in scikit-learn.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes one score per row, positive for ``classes_[1]``
            (as in scikit-learn); else one column per class in ``classes_``
            order. ``predict`` picks the highest.
        """
        scores = self._mean_member_output(X)
        if scores.shape[1] == 2:  # binary: one score, positive for classes_[1] (sklearn's way)
            return scores[:, 1] if self._output_spec.width == 1 else scores[:, 1] - scores[:, 0]
        return scores

    # -- engine hooks --------------------------------------------------------

    def _validate_target(self, y, sample_weight):
        check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y contains only one class ({self.classes_[0]!r}); a classifier "
                "needs at least two classes."
            )
        if self.class_weight is not None:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            row_weight = per_class[y_codes].astype(np.float32)
            sample_weight = row_weight if sample_weight is None else sample_weight * row_weight
        if sample_weight is not None and np.unique(y_codes[sample_weight > 0]).size < 2:
            raise ValueError(
                "sample_weight leaves only one class with positive weight; a "
                "classifier needs at least two classes."
            )
        return y_codes, sample_weight

    def _target_codes(self, y):
        y = np.asarray(y).ravel()
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if unknown.any():
            raise ValueError(
                f"y_val has labels not seen in y: {np.unique(y[unknown]).tolist()}."
            )
        return codes

    def _check_target_state(self) -> None:
        classes = getattr(self, "classes_", None)
        if not (
            isinstance(classes, np.ndarray)
            and classes.ndim == 1
            and len(classes) >= 2
            and len(np.unique(classes)) == len(classes)
        ):
            raise ValueError("classes_ is not an array of two or more distinct classes")

    def _data_arguments(self) -> dict:
        return {"n_classes": len(self.classes_)}

    def _n_output_columns(self) -> int:
        return len(self.classes_)

    def _check_output(self, spec: OutputSpec) -> None:
        n_classes = len(self.classes_)
        if spec.width == 1 and n_classes == 2:
            if spec.target_encoding == "sparse":
                raise ValueError(
                    "The model has 1 output unit but a sparse categorical loss; use "
                    "binary_crossentropy with one sigmoid unit, or two softmax units."
                )
            return
        if spec.width != n_classes:
            raise ValueError(
                f"The model has {spec.width} output units but y has {n_classes} "
                f"classes; build the last layer with {n_classes} units (take "
                "`n_classes` as a builder argument to get it from the data)."
            )

    def _encode_target(self, y_codes):
        encoding = self._output_spec.target_encoding
        if encoding == "sparse":
            return y_codes.astype(np.int32)
        if encoding == "binary":
            return y_codes.astype(np.float32).reshape(-1, 1)
        return np.eye(len(self.classes_), dtype=np.float32)[y_codes]

    def _transform_output(self, output: np.ndarray) -> np.ndarray:
        if not self._output_spec.probabilities:  # scores: averaged as they are
            return np.hstack([-output, output]) if output.shape[1] == 1 else output
        if output.shape[1] == 1:
            positive = _sigmoid(output) if self._output_spec.from_logits else output
            return np.hstack([1.0 - positive, positive])
        if self._output_spec.from_logits:
            output = np.exp(output - output.max(axis=1, keepdims=True))
        return output / output.sum(axis=1, keepdims=True)

    def _format_output(self, output):
        return output

    def _score_output(self, y_codes, output) -> float:
        return float(accuracy_score(y_codes, np.argmax(output, axis=1)))


class KerasRegressorMixin(RegressorMixin):
    """Target handling and averaging for the regressors."""

    _target_validation: dict = {"multi_output": True, "y_numeric": True}

    def predict(self, X) -> np.ndarray:
        """Mean of the members' predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Shaped like the ``y`` given to ``fit``.
        """
        return self._format_output(self._mean_member_output(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # -- engine hooks --------------------------------------------------------

    def _validate_target(self, y, sample_weight):
        y = np.asarray(y, dtype=np.float32)
        self._y_ndim = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y, sample_weight

    def _target_codes(self, y):
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != self._y_ndim or (y.ndim == 2 and y.shape[1] != self.n_outputs_):
            raise ValueError(f"y_val has shape {y.shape}, which does not match the y given to fit.")
        return y

    def _check_target_state(self) -> None:
        n_outputs, ndim = getattr(self, "n_outputs_", None), getattr(self, "_y_ndim", None)
        if not (isinstance(n_outputs, int) and n_outputs >= 1 and ndim in (1, 2)):
            raise ValueError("n_outputs_ or the target's shape is malformed")
        if ndim == 1 and n_outputs != 1:
            raise ValueError("n_outputs_ does not match the shape of the target")

    def _data_arguments(self) -> dict:
        return {"n_outputs": self.n_outputs_}

    def _n_output_columns(self) -> int:
        return self.n_outputs_

    def _check_output(self, spec: OutputSpec) -> None:
        if spec.width != self.n_outputs_:
            raise ValueError(
                f"The model has {spec.width} output units but y has {self.n_outputs_} "
                "target column(s); take `n_outputs` as a builder argument to get it from the data."
            )

    def _encode_target(self, y_codes):
        return y_codes

    def _transform_output(self, output: np.ndarray) -> np.ndarray:
        return output

    def _format_output(self, output):
        return output.ravel() if self._y_ndim == 1 else output

    def _score_output(self, y, output) -> float:
        return float(r2_score(y, self._format_output(output)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
