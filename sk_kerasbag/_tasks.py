"""Classification and regression: targets in, predictions out.

A task mixin knows how to turn ``y`` into what the member's loss expects and
how to turn a member's raw output back into probabilities or predictions. It
knows nothing about how rows are split between members. Its target handling
is the fitted target encoder's (:mod:`~sk_kerasbag._targets`, one class per
kind of ``y``), rebuilt from what a fit stores; the engine hooks hand each
step to it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from ._builder import OutputSpec, takes_argument
from ._targets import LABELS, LabelTargets, RegressionTargets, encoder_for, fit_targets


def fitted_target_kind(classifier) -> str:
    """The kind of ``y`` (``_targets.TARGET_KINDS``) a fitted classifier was fitted on."""
    return classifier._kind()


def predictions_from(estimator, output: np.ndarray) -> np.ndarray:
    """What ``estimator.predict`` returns for the mean member outputs ``output``."""
    return estimator._predictions_of(output)


class KerasClassifierMixin(ClassifierMixin):
    """Target handling and soft voting for the classifiers.

    ``y`` may be labels, a one-hot matrix or a multilabel indicator matrix
    (see ``_targets.target_kind``). One-hot rows are taken as class codes, so
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

    # -- engine hooks: each the target encoder's (_targets) ---------------------

    def _kind(self) -> str:
        # Estimators fitted (and saved or pickled) before 2-D targets had labels.
        return getattr(self, "_target_kind", LABELS)

    def _targets(self) -> LabelTargets:
        """The fitted target encoder, of the kind of ``y`` fit was given."""
        return encoder_for(self._kind(), self.classes_)

    def _validate_target(self, y, sample_weight):
        encoder, y_codes = fit_targets(y)
        self.classes_, self._target_kind = encoder.classes, encoder.kind
        return y_codes, encoder.weighted(y_codes, self.class_weight, sample_weight)

    def _target_codes(self, y):
        return self._targets().codes(y)

    def _check_target_state(self) -> None:
        classes = getattr(self, "classes_", None)
        encoder_for(self._kind(), classes).check_state()

    def _class_strata(self, y_codes):
        return self._targets().strata(y_codes)

    def _data_arguments(self) -> dict:
        return self._targets().data_arguments()

    def _n_output_columns(self) -> int:
        return len(self.classes_)

    def _check_output(self, spec: OutputSpec) -> None:
        self._targets().check_output(spec)

    def _encode_target(self, y_codes):
        return self._targets().encode(y_codes, self._output_spec)

    def _transform_output(self, output: np.ndarray) -> np.ndarray:
        return self._targets().outputs(output, self._output_spec)

    def _format_output(self, output):
        # Held-out outputs take the form of what the members offer: probabilities
        # (predict_proba's), or scores as decision_function gives them.
        return output if self._output_spec.probabilities else self._scores_of(output)

    def _predictions_of(self, output: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for mean member outputs: targets in the form of fit's ``y``."""
        return self._targets().predictions(output)

    def _score_output(self, y_codes, output) -> float:
        return self._targets().score(y_codes, output)


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

    # -- engine hooks: each the target encoder's (_targets) ---------------------

    def _targets(self) -> RegressionTargets:
        """The fitted target encoder: the shape of the ``y`` fit was given."""
        return RegressionTargets(self._y_ndim, self.n_outputs_)

    def _validate_target(self, y, sample_weight):
        encoder, y = RegressionTargets.fit(y)
        self._y_ndim, self.n_outputs_ = encoder.ndim, encoder.n_outputs
        return y, sample_weight

    def _target_codes(self, y):
        return self._targets().codes(y)

    def _check_target_state(self) -> None:
        shape = getattr(self, "_y_ndim", None), getattr(self, "n_outputs_", None)
        RegressionTargets(*shape).check_state()

    def _data_arguments(self) -> dict:
        return self._targets().data_arguments()

    def _n_output_columns(self) -> int:
        return self.n_outputs_

    def _check_output(self, spec: OutputSpec) -> None:
        self._targets().check_output(spec)

    def _encode_target(self, y_codes):
        return self._targets().encode(y_codes, self._output_spec)

    def _transform_output(self, output: np.ndarray) -> np.ndarray:
        return self._targets().outputs(output, self._output_spec)

    def _format_output(self, output):
        return self._targets().predictions(output)

    def _predictions_of(self, output: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for mean member outputs."""
        return self._targets().predictions(output)

    def _score_output(self, y, output) -> float:
        return self._targets().score(y, output)
