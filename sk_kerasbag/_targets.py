"""What an estimator's ``y`` is, and one target encoder per kind of it.

A classifier's ``y`` is one of three kinds (:func:`target_kind`): one label
per row, a one-hot matrix (its columns are the classes) or a multilabel
indicator matrix (each column a yes/no label of its own). :func:`fit_targets`
reads the kind and the classes from ``y`` and gives the fitted encoder of
that kind with the class codes members train on; :func:`encoder_for` gives
it back from what a fitted classifier stores (the kind and ``classes_``).

Everything that depends on the kind is the encoder's: the codes of a
validation ``y``, the folds' strata, class weights, the head the model must
have, the target its loss takes, and how member outputs become
probabilities, decisions, predictions and scores. One-hot rows are taken as
class codes, so members train, are stratified and weighted exactly as on
labels; only ``predict`` gives one-hot rows back.

A regressor's ``y`` has one kind, one or more columns of numbers:
:class:`RegressionTargets`, with the same methods where they apply.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._builder import OutputSpec

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


def fit_targets(y) -> tuple[LabelTargets | OneHotTargets | MultilabelTargets, np.ndarray]:
    """The encoder of ``y``'s kind, fitted on ``y``, and ``y`` as class codes.

    Codes index the encoder's ``classes`` (one per row); a multilabel ``y``
    stays a 0/1 matrix of int64.
    """
    check_classification_targets(y)
    kind = target_kind(y)
    if kind == LABELS:
        y = column_or_1d(y, warn=True)  # a single column, as scikit-learn's classifiers
        classes, codes = np.unique(y, return_inverse=True)
        return LabelTargets(classes), codes
    y = y.toarray() if sp.issparse(y) else np.asarray(y)
    # As LabelBinarizer and MLPClassifier: an indicator matrix's classes are its columns.
    encoder = encoder_for(kind, np.arange(y.shape[1]))
    return encoder, encoder.indicator_codes(y)


def encoder_for(kind: str, classes: np.ndarray) -> LabelTargets | OneHotTargets | MultilabelTargets:
    """The encoder of a fitted classifier: ``y``'s kind and its ``classes_``."""
    if kind not in _ENCODERS:
        raise ValueError(f"_target_kind is {kind!r}, not one of {TARGET_KINDS}")
    return _ENCODERS[kind](classes)


class LabelTargets:
    """One label per row; the base of the other kinds, which change what differs."""

    kind = LABELS

    def __init__(self, classes: np.ndarray):
        self.classes = classes

    def data_arguments(self) -> dict:
        """What a builder may be told of the target: ``n_classes`` and ``target_kind``."""
        return {"n_classes": len(self.classes), "target_kind": self.kind}

    def codes(self, y) -> np.ndarray:
        """A validation ``y``'s class codes; refuse labels not among ``classes``."""
        if np.ndim(y) == 2 and np.shape(y)[1] != 1:
            raise ValueError(
                f"y_val has shape {np.shape(y)}, but the y given to fit had one label per row."
            )
        y = np.asarray(y).ravel()
        codes = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)
        unknown = self.classes[codes] != y
        if unknown.any():
            raise ValueError(f"y_val has labels not seen in y: {np.unique(y[unknown]).tolist()}.")
        return codes

    def weighted(self, y_codes, class_weight, sample_weight):
        """Check that ``y_codes`` can train a classifier; fold ``class_weight`` into row weights."""
        if np.unique(y_codes).size < 2:
            raise ValueError(
                f"y contains only one class ({self.classes[y_codes[0]]!r}); a classifier "
                "needs at least two classes."
            )
        if class_weight is not None:
            if isinstance(class_weight, dict):
                # compute_class_weight ignores a key naming no class (a typo, a label
                # of another data set); scikit-learn's estimators refuse it.
                known = set(self.classes.tolist())
                unknown = [key for key in class_weight if key not in known]
                if unknown:
                    raise ValueError(
                        f"class_weight names {_listed(unknown)}, not among the classes of y "
                        f"({_listed(self.classes.tolist())})."
                    )
            # Classes without a row: only a one-hot y (an all-zero column) can have them.
            absent = np.setdiff1d(np.arange(len(self.classes)), y_codes)
            if isinstance(class_weight, str) and absent.size:
                raise ValueError(
                    f"class_weight={class_weight!r} weights classes by their frequency, "
                    f"but column(s) {absent.tolist()} of the one-hot y have no row; drop "
                    "those columns, or pass class_weight as a dict."
                )
            per_class = compute_class_weight(
                class_weight, classes=self.classes, y=self.classes[y_codes]
            )
            row_weight = per_class[y_codes].astype(np.float32)
            sample_weight = row_weight if sample_weight is None else sample_weight * row_weight
        if sample_weight is not None and np.unique(y_codes[sample_weight > 0]).size < 2:
            raise ValueError(
                "sample_weight leaves only one class with positive weight; a "
                "classifier needs at least two classes."
            )
        return sample_weight

    def strata(self, y_codes) -> np.ndarray | None:
        """The labels stratified folds keep the proportions of; None when there are none."""
        return y_codes

    def check_state(self) -> None:
        """Raise ValueError when ``classes`` cannot be a fitted classifier's (at load)."""
        classes = self.classes
        if not (
            isinstance(classes, np.ndarray)
            and classes.ndim == 1
            and len(classes) >= 2
            and len(np.unique(classes)) == len(classes)
        ):
            raise ValueError("classes_ is not an array of two or more distinct classes")

    def check_output(self, spec: OutputSpec) -> None:
        """Refuse a model whose output cannot give one class per row of these classes."""
        n_classes = len(self.classes)
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

    def encode(self, y_codes, spec: OutputSpec) -> np.ndarray:
        """The target the members' loss takes (``spec.target_encoding``)."""
        encoding = spec.target_encoding
        if encoding == "sparse":
            return y_codes.astype(np.int32)
        if encoding == "binary":
            return y_codes.astype(np.float32).reshape(-1, 1)
        return np.eye(len(self.classes), dtype=np.float32)[y_codes]

    def outputs(self, raw: np.ndarray, spec: OutputSpec) -> np.ndarray:
        """A batch of raw member outputs as probabilities (or, for score heads, scores).

        One column per class: a single sigmoid unit becomes two columns.
        """
        if not spec.probabilities:  # scores: averaged as they are
            return np.hstack([-raw, raw]) if raw.shape[1] == 1 else raw
        if raw.shape[1] == 1:
            positive = _sigmoid(raw) if spec.from_logits else raw
            return np.hstack([1.0 - positive, positive])
        if spec.from_logits:
            raw = np.exp(raw - raw.max(axis=1, keepdims=True))
        return raw / raw.sum(axis=1, keepdims=True)

    def decisions(self, output: np.ndarray) -> np.ndarray:
        """Class codes from mean outputs (one column per class, or a binary score per row)."""
        if output.ndim == 1:  # a binary score: positive for classes[1]
            return (output > 0).astype(np.int64)
        return np.argmax(output, axis=1)

    def predictions(self, output: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for mean outputs: targets in the form of fit's ``y``."""
        return self.classes[self.decisions(output)]

    def score(self, y_codes, output: np.ndarray) -> float:
        """Accuracy of the decisions (for a multilabel ``y``, subset accuracy)."""
        return float(accuracy_score(y_codes, self.decisions(output)))


class _IndicatorTargets(LabelTargets):
    """A 0/1 matrix ``y`` whose columns are the classes (one-hot or multilabel)."""

    def check_state(self) -> None:
        super().check_state()
        if not np.array_equal(self.classes, np.arange(len(self.classes))):
            raise ValueError("classes_ of an indicator target are not its column numbers")

    def codes(self, y) -> np.ndarray:
        y = y.toarray() if sp.issparse(y) else np.asarray(y)
        ones = (y != 0).sum(axis=1) if y.ndim == 2 else None
        if not (
            y.ndim == 2
            and y.shape[1] == len(self.classes)
            and np.isin(y, (0, 1)).all()
            and (self.kind == MULTILABEL or (ones == 1).all())
        ):
            what = "one-hot matrix" if self.kind == ONE_HOT else "0/1 indicator matrix"
            raise ValueError(
                f"y_val must be a {what} of {len(self.classes)} columns, as the y given to "
                f"fit; got an array of shape {y.shape}."
            )
        return self.indicator_codes(y)


class OneHotTargets(_IndicatorTargets):
    """Rows with exactly one 1: class codes to the members, one-hot rows from ``predict``."""

    kind = ONE_HOT

    @staticmethod
    def indicator_codes(y: np.ndarray) -> np.ndarray:
        return np.argmax(y, axis=1)

    def predictions(self, output: np.ndarray) -> np.ndarray:
        # An indicator matrix of int64 whatever y's dtype, as MLPClassifier's
        # (its LabelBinarizer's) for any indicator-matrix y.
        return np.eye(len(self.classes), dtype=np.int64)[self.decisions(output)]


class MultilabelTargets(_IndicatorTargets):
    """Each column a yes/no label of its own, learned by one sigmoid unit per label."""

    kind = MULTILABEL

    @staticmethod
    def indicator_codes(y: np.ndarray) -> np.ndarray:
        return (y != 0).astype(np.int64)  # stays a 0/1 matrix

    def weighted(self, y_codes, class_weight, sample_weight):
        # A multilabel row carries every label, so no weighting leaves "one class".
        if class_weight is not None:
            raise ValueError(
                "class_weight weights classes, but a multilabel y has labels that rows "
                "share; pass per-row weights as sample_weight instead."
            )
        return sample_weight

    def strata(self, y_codes) -> None:
        # No one class per row (scikit-learn's StratifiedKFold refuses such a y):
        # its folds are plain K-fold ones.
        return None

    def check_output(self, spec: OutputSpec) -> None:
        """Refuse a head that cannot give each label a probability of its own."""
        n_labels = len(self.classes)
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

    def encode(self, y_codes, spec: OutputSpec) -> np.ndarray:
        return y_codes.astype(np.float32)  # one 0/1 target per sigmoid unit

    def outputs(self, raw: np.ndarray, spec: OutputSpec) -> np.ndarray:
        # A probability per label: rows do not sum to 1.
        return _sigmoid(raw) if spec.from_logits else raw

    def decisions(self, output: np.ndarray) -> np.ndarray:
        return (output > 0.5).astype(np.int64)

    def predictions(self, output: np.ndarray) -> np.ndarray:
        return self.decisions(output)


class RegressionTargets:
    """A regressor's ``y``: one column of numbers (``ndim`` 1) or ``n_outputs`` columns."""

    def __init__(self, ndim: int, n_outputs: int):
        self.ndim, self.n_outputs = ndim, n_outputs

    @classmethod
    def fit(cls, y) -> tuple[RegressionTargets, np.ndarray]:
        """The encoder of ``y``'s shape, and ``y`` as float32."""
        y = np.asarray(y, dtype=np.float32)
        return cls(y.ndim, 1 if y.ndim == 1 else y.shape[1]), y

    def data_arguments(self) -> dict:
        """What a builder may be told of the target: ``n_outputs``."""
        return {"n_outputs": self.n_outputs}

    def codes(self, y) -> np.ndarray:
        """A validation ``y`` as float32, refused unless shaped like fit's."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != self.ndim or (y.ndim == 2 and y.shape[1] != self.n_outputs):
            raise ValueError(f"y_val has shape {y.shape}, which does not match the y given to fit.")
        return y

    def check_state(self) -> None:
        """Raise ValueError when the stored shape cannot be a fitted regressor's (at load)."""
        if not (isinstance(self.n_outputs, int) and self.n_outputs >= 1 and self.ndim in (1, 2)):
            raise ValueError("n_outputs_ or the target's shape is malformed")
        if self.ndim == 1 and self.n_outputs != 1:
            raise ValueError("n_outputs_ does not match the shape of the target")

    def check_output(self, spec: OutputSpec) -> None:
        """Refuse a model without one output unit per target column."""
        if spec.width != self.n_outputs:
            raise ValueError(
                f"The model has {spec.width} output units but y has {self.n_outputs} "
                "target column(s); take `n_outputs` as a builder argument to get it from the data."
            )

    def encode(self, y, spec: OutputSpec) -> np.ndarray:
        return y

    def outputs(self, raw: np.ndarray, spec: OutputSpec) -> np.ndarray:
        return raw

    def predictions(self, output: np.ndarray) -> np.ndarray:
        """Mean outputs shaped like fit's ``y`` (one column of a 1-D ``y`` as 1-D)."""
        return output.ravel() if self.ndim == 1 else output

    def score(self, y, output: np.ndarray) -> float:
        """R², averaged uniformly over the columns, as scikit-learn's regressors."""
        return float(r2_score(y, self.predictions(output)))


_ENCODERS = {LABELS: LabelTargets, ONE_HOT: OneHotTargets, MULTILABEL: MultilabelTargets}


def _listed(values: list, shown: int = 10) -> str:
    """At most ``shown`` values, then how many more."""
    text = ", ".join(repr(v) for v in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
