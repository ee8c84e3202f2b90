"""The engine shared by every sk_kerasbag estimator: the one path of ``fit`` and ``predict``.

:class:`BaseKerasEnsemble` orchestrates; each step's logic lives in a module
of its own, which the engine calls with its parameters::

    fit:     validate data and target -> split rows (the family) -> plan
             members (_plans) -> keep fitted ones (_warm_start) -> check the
             builder's model (_builder) -> open the run folder (_artifacts)
             -> train (_strategy) -> record -> held-out predictions (_heldout)
    predict: validate rows -> run the members (_predicting) -> the task's
             output (_tasks)

What differs between estimators (the family, the task, the kind of rows)
comes through the hooks of :class:`~sk_kerasbag._hooks.EnsembleHooks`; the
parameters, ``model__<name>`` arguments and old pickles through
:class:`~sk_kerasbag._parameters.EnsembleParameters`; ``member_predictions``
and the mean output behind ``predict`` through
:class:`~sk_kerasbag._predicting.EnsemblePredictions`; ``save`` through
:class:`~sk_kerasbag.persistence.SaveMixin` (``load``'s checks are
``_integrity.check_fitted_state``'s).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import replace
from numbers import Integral
from typing import Callable, Iterator

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._artifacts import RunFolder, data_digest
from ._augmentation import make_augmentation
from ._builder import OutputSpec, check_input_shape, make_builder, output_of, routed_params
from ._callbacks import Monitoring, check_callbacks
from ._fixes import check_sample_weight, validate_params
from ._hooks import EnsembleHooks
from ._heldout import average_heldout, warn_uncovered
from ._keras import keras
from ._members import TrainedMember, Training, build_member, seeded
from ._parameters import EnsembleParameters
from ._pickling import check_portable
from ._predicting import EnsemblePredictions, Passes, outputs_of
from ._plans import fitted_plans, plan_members
from ._random import member_seeds
from ._strategy import choose_strategy, train_members
from ._warm_start import check_same_splits, kept_statistics, members_kept
from .persistence import SaveMixin
from .reporting import format_table, member_statistics, statistics_table


class BaseKerasEnsemble(SaveMixin, EnsemblePredictions, EnsembleParameters, EnsembleHooks):
    """Base class of the bagged and K-fold Keras ensembles.

    Not meant to be used directly; see the public estimators.
    """

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimators_")

    # -- the members, as scikit-learn's ensembles offer them -------------------

    def __len__(self) -> int:
        """Number of members (NotFittedError before ``fit``)."""
        check_is_fitted(self)
        return len(self.estimators_)

    def __getitem__(self, index):
        """Member ``index`` (a ``keras.Model``), or a list of them for a slice."""
        check_is_fitted(self)
        return self.estimators_[index]

    def __iter__(self) -> Iterator[keras.Model]:
        """The members, in ``estimators_`` order."""
        check_is_fitted(self)
        return iter(self.estimators_)

    def __bool__(self) -> bool:
        # With __len__ defined, ``if estimator:`` would call it: an unfitted
        # estimator would raise and a fitted one be true by its member count.
        return True

    # -- fit -----------------------------------------------------------------

    def _fit(self, X, y, **fit_arguments):
        """Fit, or leave the estimator exactly as it was when the fit fails.

        Validation sets fitted attributes as it goes (``classes_``,
        ``input_shape_``...), and a check after it may still refuse the fit (a
        model that cannot learn this ``y``, an interrupted training): an
        estimator fitted before would be left with its old members and the
        new target's attributes, predicting in a form its members never
        learned. So a failed fit puts every attribute back (an unfitted
        estimator stays unfitted).
        """
        before = dict(self.__dict__)
        try:
            return self._fit_members(X, y, **fit_arguments)
        except BaseException:  # also KeyboardInterrupt: whatever stopped the fit
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_members(self, X, y, *, sample_weight=None, validation_data=None, groups=None):
        check_callbacks(self.callbacks)
        X, y = self._validate_training_data(X, y)
        passes = self._passes(X)
        sample_weight = self._validated_sample_weight(sample_weight, X)
        y_codes, sample_weight = self._validate_target(y, sample_weight)
        rng = check_random_state(self.random_state)
        splits = self._split_rows(X, y_codes, groups, rng)
        plans = plan_members(
            splits,
            member_seeds(rng, len(splits)),
            validate_on_heldout=self.validate_on_heldout,
            validation_split=self.validation_split,
        )
        n_kept = self._members_kept(len(plans))
        fitted_splits = self._fitted_splits(len(X)) if n_kept else []
        if n_kept and isinstance(self.random_state, Integral):
            self._check_fitted_splits(splits[:n_kept], fitted_splits)
        if n_kept == len(plans):
            return self
        builder = self._probe(plans[0].seed, X)
        y_fit = self._encode_target(y_codes)
        validation = self._validation_data(validation_data)

        with self._run_folder(X, y_codes, sample_weight, validation, groups, n_kept) as run:
            if run is not None:
                n_asked = len(plans)
                splits, plans = run.adopt_plans(splits, plans)
                if len(plans) > n_asked:  # a grown run, interrupted, then grown less far
                    raise ValueError(
                        f"save_dir {self.save_dir} records a run of {len(plans)} members, more "
                        f"than the {n_asked} this fit asks for; fit with {self._grown_by} "
                        "giving that many members to resume it."
                    )
            if n_kept:  # the fitted members stay as they are; only the new ones train
                splits = fitted_splits + splits[n_kept:]
                plans = fitted_plans(splits, self._seeds) + plans[n_kept:]
            plans = plans[:n_kept] + [
                replace(plan, features=self._draw_columns(plan.seed)) for plan in plans[n_kept:]
            ]
            results, fit_strategy = self._train_members(
                builder, X, y_fit, sample_weight, plans[n_kept:], passes, validation, run
            )
            rows = [member_statistics(m) for m in results]
            kept = kept_statistics(self.fit_statistics_, n_kept) if n_kept else []
            self.fit_statistics_ = statistics_table(kept + rows)
            if run is not None:
                run.write_statistics(self.fit_statistics_)
        self._record_splits(splits)
        self._record_columns([plan.features for plan in plans], n_kept)
        self.fit_strategy_ = fit_strategy
        self.estimators_ = self._fitted("estimators_", n_kept) + [m.model for m in results]
        self.histories_ = self._fitted("histories_", n_kept) + [m.history for m in results]
        self.preprocessing_ = self._fitted("preprocessing_", n_kept) + [
            m.preprocessing for m in results
        ]
        self._seeds = [plan.seed for plan in plans]
        # What made the held-out predictions, to tell when test predictions differ.
        self._heldout_passes = (passes.n_passes, copy.deepcopy(self.augmentation))
        if self._wants_heldout():
            self._store_heldout(X, y_codes, plans, passes)
        if self.verbose >= 1:
            self.summary()
        return self

    # -- warm start (_warm_start) ------------------------------------------------

    def _members_kept(self, n_members: int) -> int:
        """How many fitted members this fit keeps: all of them when warm-starting, else none."""
        warm = self.warm_start and hasattr(self, "estimators_")
        n_fitted = len(self.estimators_) if warm else None
        return members_kept(n_fitted, n_members, self._grown_by, getattr(self, self._grown_by))

    def _check_fitted_splits(self, splits: list, fitted: list) -> None:
        """Refuse to grow an ensemble whose fitted members this fit would have split otherwise."""
        check_same_splits(splits, fitted, self._grown_by)

    def _fitted(self, name: str, n_kept: int) -> list:
        return list(getattr(self, name))[:n_kept] if n_kept else []

    # -- the builder, checked once before training -------------------------------

    def _probe(self, seed: int, X) -> Callable[[], keras.Model]:
        """Build one throw-away member and check it; return the builder members are built with.

        So that a broken builder, or a model that does not fit the data, fails
        before any member trains, and so that the target can be encoded for
        the model's loss (sets ``_output_spec``). Call after the data and
        target are validated.
        """
        input_shape = self._member_input_shape()
        builder = make_builder(
            self.model,
            routed_params(self.get_params(deep=False)),
            {"input_shape": input_shape, **self._data_arguments()},
        )
        with seeded(seed):
            probe = build_member(builder, seed)
        check_input_shape(probe, input_shape, builder)
        if self._trains_in_workers(X):
            check_portable(probe)  # members come back from worker processes
        self._output_spec = OutputSpec.of(probe, output_of(probe, input_shape, builder))
        self._check_output(self._output_spec)
        return builder

    # -- training (_strategy) ------------------------------------------------------

    def _strategy(self, X, augmentation, quiet: bool = False) -> str:
        """``"packed"`` or ``"sequential"``: what ``strategy`` comes to for this fit."""
        return choose_strategy(
            self.strategy,
            X,
            callbacks=self.callbacks,
            augmentation=augmentation,
            columns=self._draws_columns(),
            quiet=quiet,
        )

    def _trains_in_workers(self, X) -> bool:
        """Whether members are trained in other processes (and so pickled back)."""
        if effective_n_jobs(self.n_jobs) == 1:
            return False
        return self._strategy(X, make_augmentation(self.augmentation), quiet=True) == "sequential"

    def _train_members(
        self, builder, X, y_fit, sample_weight, plans, passes: Passes, validation, run
    ) -> tuple[list[TrainedMember], str]:
        """Train (or reload from the run folder) every member; return them and how they trained."""
        training = Training(
            augmentation=passes.augmentation,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            monitoring=Monitoring(self.monitor, self.patience, self.restore_best_weights),
            callbacks=self.callbacks,
        )
        return train_members(
            builder,
            X,
            y_fit,
            sample_weight,
            plans,
            training,
            strategy=self._strategy(X, passes.augmentation),
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            run=run,
        )

    def _run_folder(self, X, y_codes, sample_weight, validation, groups, n_kept):
        """The run folder in ``save_dir`` (locked while fitting), or None without ``save_dir``.

        A warm fit (``n_kept`` members kept) adds its members to the run its
        fitted members were saved in.
        """
        if self.save_dir is None:
            if self.resume:
                raise ValueError("resume=True needs save_dir: the folder of the run to resume.")
            return contextlib.nullcontext(None)
        digest = data_digest(
            X, y_codes, getattr(self, "classes_", None), sample_weight, validation, groups
        )
        grown = (self._grown_by, n_kept) if n_kept else None
        return RunFolder.open(
            self.save_dir, resume=self.resume, estimator=self, digest=digest, grown=grown
        )

    # -- data ------------------------------------------------------------------

    def _validate_training_data(self, X, y):
        """Check the training rows and targets; set ``input_shape_``."""
        X, y = validate_data(
            self, X, y, allow_nd=True, dtype=np.float32, **self._target_validation
        )
        self.input_shape_ = X.shape[1:]
        return X, y

    def _validated_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)

    def _validation_data(self, validation_data):
        """Check and encode a user-given ``(X_val, y_val[, sample_weight_val])``."""
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or "
                "(X_val, y_val, sample_weight_val)."
            )
        X_val = self._validate_rows(validation_data[0])
        y_val = self._encode_target(self._target_codes(validation_data[1]))
        if len(y_val) != len(X_val):
            raise ValueError(
                f"validation_data has {len(X_val)} rows in X_val but {len(y_val)} in y_val."
            )
        if len(validation_data) == 3:
            return X_val, y_val, self._validated_sample_weight(validation_data[2], X_val)
        return X_val, y_val

    # -- held-out predictions (_heldout) -------------------------------------------

    def _store_heldout(self, X, y_codes, plans, passes: Passes):
        """Average each row's predictions over the members that never saw it.

        ``passes`` are those checked on ``X`` at the start of the fit.
        """
        members = [k for k, plan in enumerate(plans) if len(plan.heldout_idx)]
        rows = [X.take(plans[k].heldout_idx, axis=0) for k in members]
        outputs = outputs_of(self._fitted_members(), members, rows, passes)
        heldout, covered = average_heldout(
            outputs, [plans[k].heldout_idx for k in members], len(X), self._n_output_columns()
        )
        warn_uncovered(covered, self._every_row_held_out, self._grown_by)
        setattr(self, self._heldout_attribute, self._format_output(heldout))
        score = np.nan
        if covered.any():
            score = self._score_output(y_codes[covered], heldout[covered])
        setattr(self, self._heldout_score_attribute, score)

    # -- reporting -------------------------------------------------------------

    def summary(self, verbose: int | None = None) -> str:
        """The per-member statistics table with mean, std, min and max across members.

        Parameters
        ----------
        verbose : int, optional
            Print the table when ``>= 1``; defaults to the estimator's ``verbose``.

        Returns
        -------
        str
            The table of ``fit_statistics_``: per member its epochs run, its
            best epoch by ``monitor``, its held epoch (whose weights it
            predicts with), every metric at the held epoch, and its training
            seconds.
        """
        check_is_fitted(self)
        table = format_table(self.fit_statistics_)
        if (self.verbose if verbose is None else verbose) >= 1:
            print(table)
        return table


def check_before_fit(estimator: BaseKerasEnsemble, X, y=None) -> None:
    """Everything ``estimator.fit(X, y)`` checks before training; train nothing.

    The parameters, the callbacks, the data and target, and one member built
    by the builder and checked against them (for ``sk-kerasbag run --check``).
    Leaves the estimator unfitted.
    """
    validate_params(estimator)
    check_callbacks(estimator.callbacks)
    X, y = estimator._validate_training_data(X, y)
    estimator._validate_target(y, None)
    estimator._probe(0, X)
