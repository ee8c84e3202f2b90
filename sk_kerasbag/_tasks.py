"""Classification and regression: targets in, predictions out.

A task mixin knows how to turn ``y`` into what the member's loss expects and
how to turn a member's raw output back into probabilities or predictions. It
knows nothing about how rows are split between members.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._builder import OutputSpec, takes_argument

# What a classifier's ``y`` is: one label per row, an indicator matrix with
# exactly one 1 per row (one-hot: its columns are the classes), or any other
# indicator matrix (multilabel: each column a yes/no label of its own).
LABELS, ONE_HOT, MULTILABEL = "labels", "onehot", "multilabel"
TARGET_KINDS = (LABELS, ONE_HOT, MULTILABEL)


def target_kind(y) -> str:
    """Which of :data:`TARGET_KINDS` a classification target ``y`` is.

    Parameters
    ----------
    y : array-like or sparse matrix
        A target that passed ``check_classification_targets``.

    Returns
    -------
    str
        ``"labels"`` for one label per row (also a single column),
        ``"onehot"`` for an indicator matrix whose every row has exactly one
        1, ``"multilabel"`` for any other indicator matrix.

    Raises
    ------
    ValueError
        For several columns of labels (multiclass-multioutput), which no
        member's single head can learn.
    """
    kind = type_of_target(y)
    if kind == "multilabel-indicator":
        # scikit-learn also calls a matrix of two other integers (say 3 and 5) an indicator.
        values = y.data if sp.issparse(y) else np.asarray(y)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                "y is an indicator matrix, but not of 0s and 1s; one-hot and multilabel "
                "targets take 0/1 (or boolean) columns."
            )
        ones = np.asarray((y != 0).sum(axis=1)).ravel()
        return ONE_HOT if (ones == 1).all() else MULTILABEL
    if np.ndim(y) == 2 and np.shape(y)[1] > 1:
        raise ValueError(
            f"y has {np.shape(y)[1]} columns of class labels ({kind}); the classifiers take "
            "one label per row, a one-hot matrix, or a 0/1 multilabel indicator matrix."
        )
    return LABELS


def fitted_target_kind(classifier) -> str:
    """The :data:`TARGET_KINDS` kind of ``y`` a fitted classifier was fitted on."""
    return classifier._kind()


def predictions_from(estimator, output: np.ndarray) -> np.ndarray:
    """What ``estimator.predict`` returns for the mean member outputs ``output``."""
    return estimator._predictions_of(output)


class KerasClassifierMixin(ClassifierMixin):
    """Target handling and soft voting for the classifiers.

    ``y`` may be labels, a one-hot matrix or a multilabel indicator matrix
    (see :func:`target_kind`). One-hot rows are taken as class codes, so
    members train, are stratified and weighted exactly as on labels; only
    ``predict`` gives one-hot rows back. Multilabel members have one sigmoid
    unit per label, whose probabilities are averaged as they are.
    """

    # 2-D y comes in unchanged: _validate_target tells its kind.
    _target_validation: dict = {"multi_output": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A multilabel y needs one sigmoid unit per label, which a builder can be
        # known to give before fit only when it is told the target's kind: a
        # softmax builder would fail scikit-learn's multilabel checks.
        tags.classifier_tags.multi_label = takes_argument(self.model, "target_kind")
        return tags

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
            Probabilities in ``classes_`` order; each row sums to 1, except
            for a multilabel ``y``: then column ``j`` is the mean probability
            of label ``j``, on its own.
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
        """Class with the highest mean probability (labels above 0.5 for a multilabel ``y``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            In the form of the ``y`` given to ``fit``: labels from
            ``classes_``; for a one-hot ``y``, one-hot rows; for a multilabel
            ``y``, an indicator matrix of the labels whose mean probability is
            above 0.5. Indicator matrices are of int64, whatever ``y``'s dtype,
            as ``MLPClassifier``'s.
        """
        return self._predictions_of(self._mean_member_output(X))  # first: it says if not fitted

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
        # Not reached for a multilabel y: its members must output probabilities (_check_output).
        return self._scores_of(self._mean_member_output(X))

    def _scores_of(self, output: np.ndarray) -> np.ndarray:
        """``decision_function``'s form of mean member scores (one column per class)."""
        if output.shape[1] == 2:  # binary: one score, positive for classes_[1] (sklearn's way)
            return output[:, 1] if self._output_spec.width == 1 else output[:, 1] - output[:, 0]
        return output

    # -- engine hooks --------------------------------------------------------

    def _kind(self) -> str:
        # Estimators fitted (and saved or pickled) before 2-D targets had labels.
        return getattr(self, "_target_kind", LABELS)

    def _validate_target(self, y, sample_weight):
        check_classification_targets(y)
        kind = target_kind(y)
        if kind == LABELS:
            y = column_or_1d(y, warn=True)  # a single column, as scikit-learn's classifiers
            self.classes_, y_codes = np.unique(y, return_inverse=True)
        else:
            y = y.toarray() if sp.issparse(y) else np.asarray(y)
            # As LabelBinarizer and MLPClassifier: an indicator matrix's classes are its columns.
            self.classes_ = np.arange(y.shape[1])
            # One-hot rows are class codes from here on (stratified, weighted, encoded
            # for the loss as labels are); a multilabel target stays a 0/1 matrix.
            y_codes = np.argmax(y, axis=1) if kind == ONE_HOT else (y != 0).astype(np.int64)
        self._target_kind = kind
        if kind != MULTILABEL and np.unique(y_codes).size < 2:
            raise ValueError(
                f"y contains only one class ({self.classes_[y_codes[0]]!r}); a classifier "
                "needs at least two classes."
            )
        if self.class_weight is not None:
            if kind == MULTILABEL:
                raise ValueError(
                    "class_weight weights classes, but a multilabel y has labels that rows "
                    "share; pass per-row weights as sample_weight instead."
                )
            if isinstance(self.class_weight, dict):
                # compute_class_weight ignores a key naming no class (a typo, a label
                # of another data set); scikit-learn's estimators refuse it.
                known = set(self.classes_.tolist())
                unknown = [key for key in self.class_weight if key not in known]
                if unknown:
                    raise ValueError(
                        f"class_weight names {_listed(unknown)}, not among the classes of y "
                        f"({_listed(self.classes_.tolist())})."
                    )
            # Classes without a row: only a one-hot y (an all-zero column) can have them.
            absent = np.setdiff1d(np.arange(len(self.classes_)), y_codes)
            if isinstance(self.class_weight, str) and absent.size:
                raise ValueError(
                    f"class_weight={self.class_weight!r} weights classes by their frequency, "
                    f"but column(s) {absent.tolist()} of the one-hot y have no row; drop "
                    "those columns, or pass class_weight as a dict."
                )
            per_class = compute_class_weight(
                self.class_weight, classes=self.classes_, y=self.classes_[y_codes]
            )
            row_weight = per_class[y_codes].astype(np.float32)
            sample_weight = row_weight if sample_weight is None else sample_weight * row_weight
        # A multilabel row carries every label, so no weighting leaves "one class".
        if (
            kind != MULTILABEL
            and sample_weight is not None
            and np.unique(y_codes[sample_weight > 0]).size < 2
        ):
            raise ValueError(
                "sample_weight leaves only one class with positive weight; a "
                "classifier needs at least two classes."
            )
        return y_codes, sample_weight

    def _target_codes(self, y):
        kind, n_classes = self._kind(), len(self.classes_)
        if kind != LABELS:
            return self._indicator_codes(y, kind, n_classes)
        if np.ndim(y) == 2 and np.shape(y)[1] != 1:
            raise ValueError(
                f"y_val has shape {np.shape(y)}, but the y given to fit had one label per row."
            )
        y = np.asarray(y).ravel()
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if unknown.any():
            raise ValueError(
                f"y_val has labels not seen in y: {np.unique(y[unknown]).tolist()}."
            )
        return codes

    @staticmethod
    def _indicator_codes(y, kind: str, n_classes: int) -> np.ndarray:
        """A validation target's codes, when fit's ``y`` was a one-hot or multilabel matrix."""
        y = y.toarray() if sp.issparse(y) else np.asarray(y)
        ones = (y != 0).sum(axis=1) if y.ndim == 2 else None
        if not (
            y.ndim == 2
            and y.shape[1] == n_classes
            and np.isin(y, (0, 1)).all()
            and (kind == MULTILABEL or (ones == 1).all())
        ):
            what = "one-hot matrix" if kind == ONE_HOT else "0/1 indicator matrix"
            raise ValueError(
                f"y_val must be a {what} of {n_classes} columns, as the y given to fit; "
                f"got an array of shape {y.shape}."
            )
        return np.argmax(y, axis=1) if kind == ONE_HOT else (y != 0).astype(np.int64)

    def _check_target_state(self) -> None:
        classes = getattr(self, "classes_", None)
        if not (
            isinstance(classes, np.ndarray)
            and classes.ndim == 1
            and len(classes) >= 2
            and len(np.unique(classes)) == len(classes)
        ):
            raise ValueError("classes_ is not an array of two or more distinct classes")
        kind = self._kind()
        if kind not in TARGET_KINDS:
            raise ValueError(f"_target_kind is {kind!r}, not one of {TARGET_KINDS}")
        if kind != LABELS and not np.array_equal(classes, np.arange(len(classes))):
            raise ValueError("classes_ of an indicator target are not its column numbers")

    def _class_strata(self, y_codes):
        """The labels stratified folds keep the proportions of; None when there are none.

        A multilabel target has no one class per row (scikit-learn's
        ``StratifiedKFold`` refuses it): its folds are plain K-fold ones.
        """
        return None if self._kind() == MULTILABEL else y_codes

    def _data_arguments(self) -> dict:
        return {"n_classes": len(self.classes_), "target_kind": self._kind()}

    def _n_output_columns(self) -> int:
        return len(self.classes_)

    def _check_output(self, spec: OutputSpec) -> None:
        n_classes = len(self.classes_)
        if self._kind() == MULTILABEL:
            self._check_multilabel_output(spec, n_classes)
            return
        linear = spec.activation == "linear" and not spec.from_logits
        if linear and "crossentropy" in spec.loss_name:
            # Keras clips such outputs into (0, 1) for the loss and learns little; read
            # as probabilities they would be below 0 or above 1.
            raise ValueError(
                f"The model's last layer is linear, but its loss {spec.loss_name!r} takes "
                "probabilities. Give the last layer a softmax (or, with one unit, a sigmoid) "
                "activation, or compile the loss with from_logits=True."
            )
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

    @staticmethod
    def _check_multilabel_output(spec: OutputSpec, n_labels: int) -> None:
        """Refuse a head that cannot give each label a probability of its own."""
        if spec.width != n_labels:
            problem = f"the model has {spec.width} output units"
        elif spec.target_encoding == "sparse" or "categorical" in spec.loss_name:
            problem = f"its loss {spec.loss_name!r} takes one class per row"
        elif spec.activation == "softmax":
            problem = "its softmax head makes the labels compete for one unit of probability"
        elif not spec.probabilities or (spec.activation == "linear" and not spec.from_logits):
            problem = "its outputs are not probabilities"
        else:
            return
        raise ValueError(
            f"y is a multilabel indicator matrix of {n_labels} labels, but {problem}. Build "
            f"the last layer with {n_labels} sigmoid units (take `n_classes` as a builder "
            "argument) and compile with loss='binary_crossentropy'; a builder taking "
            "`target_kind` is told when y is 'multilabel'."
        )

    def _encode_target(self, y_codes):
        if self._kind() == MULTILABEL:  # one 0/1 target per sigmoid unit
            return y_codes.astype(np.float32)
        encoding = self._output_spec.target_encoding
        if encoding == "sparse":
            return y_codes.astype(np.int32)
        if encoding == "binary":
            return y_codes.astype(np.float32).reshape(-1, 1)
        return np.eye(len(self.classes_), dtype=np.float32)[y_codes]

    def _transform_output(self, output: np.ndarray) -> np.ndarray:
        if self._kind() == MULTILABEL:  # a probability per label: rows do not sum to 1
            return _sigmoid(output) if self._output_spec.from_logits else output
        if not self._output_spec.probabilities:  # scores: averaged as they are
            return np.hstack([-output, output]) if output.shape[1] == 1 else output
        if output.shape[1] == 1:
            positive = _sigmoid(output) if self._output_spec.from_logits else output
            return np.hstack([1.0 - positive, positive])
        if self._output_spec.from_logits:
            output = np.exp(output - output.max(axis=1, keepdims=True))
        return output / output.sum(axis=1, keepdims=True)

    def _format_output(self, output):
        # Held-out outputs take the form of what the members offer: probabilities
        # (predict_proba's), or scores as decision_function gives them.
        return output if self._output_spec.probabilities else self._scores_of(output)

    def _decisions(self, output: np.ndarray) -> np.ndarray:
        """Class codes from mean outputs; a 0/1 matrix for a multilabel ``y``.

        ``output`` is one column per class (probabilities or scores), or the
        one score per row of a binary ``decision_function``.
        """
        if self._kind() == MULTILABEL:
            return (output > 0.5).astype(np.int64)
        if output.ndim == 1:  # a binary score: positive for classes_[1]
            return (output > 0).astype(np.int64)
        return np.argmax(output, axis=1)

    def _predictions_of(self, output: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for mean member outputs: targets in the form of fit's ``y``."""
        codes = self._decisions(output)
        if self._kind() == ONE_HOT:
            # An indicator matrix of int64 whatever y's dtype, as MLPClassifier's
            # (its LabelBinarizer's) for any indicator-matrix y.
            return np.eye(len(self.classes_), dtype=np.int64)[codes]
        return codes if self._kind() == MULTILABEL else self.classes_[codes]

    def _score_output(self, y_codes, output) -> float:
        # Accuracy; for a multilabel y, subset accuracy (every label of a row right).
        return float(accuracy_score(y_codes, self._decisions(output)))


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
        return self._predictions_of(self._mean_member_output(X))

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

    def _predictions_of(self, output: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for mean member outputs."""
        return self._format_output(output)

    def _score_output(self, y, output) -> float:
        return float(r2_score(y, self._format_output(output)))


def _listed(values: list, shown: int = 10) -> str:
    """``values`` for a message: the first ``shown`` of them, and how many more there are."""
    text = ", ".join(repr(v) for v in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
