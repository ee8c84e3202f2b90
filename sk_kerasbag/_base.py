"""The engine shared by every sk_kerasbag estimator.

:class:`BaseKerasEnsemble` owns the one path through ``fit``::

    validate data -> encode target -> split rows -> plan members
    -> check the builder's model -> train members -> held-out predictions

and the averaging behind ``predict``. What differs between estimators is
supplied by two small sets of hooks:

* the *family* (bagging or K-fold) implements ``_split_rows``, records the
  splits as fitted attributes (``_record_splits``) and says whether held-out
  predictions are wanted (``_wants_heldout``);
* the *task* (classifier or regressor) implements ``_validate_target``,
  ``_check_output``, ``_encode_target`` and ``_transform_output``.

Rows are in-memory arrays by default; the directory estimators override
``_validate_training_data`` and ``_validate_rows`` to give image files read
on demand (:class:`~sk_kerasbag.folders.ImageFiles`). The engine only ever
uses ``len(X)``, ``X.take(indices, axis=0)`` and ``X[rows]`` on them.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import os
import warnings
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, Callable, Iterator

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._artifacts import RunFolder, data_digest
from ._augmentation import NoAugmentation, Preprocessing, make_augmentation
from ._builder import (
    ROUTE_PREFIX,
    OutputSpec,
    check_input_shape,
    make_builder,
    output_of,
    routed_params,
)
from ._callbacks import Monitoring, check_callbacks
from ._fixes import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    check_sample_weight,
    validate_parameter_constraints,
)
from ._keras import keras
from ._members import (
    MemberPlan,
    TrainedMember,
    Training,
    build_member,
    fit_member,
    predict_members,
    seeded,
)
from ._packing import fit_packed, packing_obstacle
from ._pickling import check_portable, portable, unwrap
from ._processes import run_in_worker
from ._random import member_seeds, tta_seed, validation_rng
from ._splitting import carve_validation
from ._vectorised import data_obstacle, shared_forward
from .exceptions import NotFiniteError
from .persistence import SaveMixin
from .reporting import format_table, member_statistics, statistics_table, track_members

logger = logging.getLogger("sk_kerasbag")

# Above this share of rows without a held-out prediction, the held-out score
# is worth a warning (random draws leave some rows in every member's sample).
_MOST_ROWS_UNSCORED = 1 / 3
# Input values per prediction batch, at most (see _prediction_chunk_rows).
_PREDICTION_BATCH_VALUES = 2**16


class BaseKerasEnsemble(SaveMixin, BaseEstimator):
    """Base class of the bagged and K-fold Keras ensembles.

    Not meant to be used directly; see the public estimators.
    """

    # Read again at predict time, so they are checked there too.
    _prediction_constraints: dict = {
        "augmentation": [dict, HasMethods(["flow"]), None],
        "tta": [Interval(Integral, 0, None, closed="left")],
    }
    _parameter_constraints: dict = {
        "model": [callable],
        **_prediction_constraints,
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "validate_on_heldout": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "save_dir": [str, os.PathLike, None],
        "resume": ["boolean"],
        "warm_start": ["boolean"],
        "strategy": [StrOptions({"sequential", "packed", "auto"})],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "monitor": [str],
        "restore_best_weights": ["boolean"],
    }

    def _set_init_params(self, arguments: dict[str, Any]) -> None:
        """Store every ``__init__`` argument unchanged, under its own name.

        Public ``__init__`` methods spell out their parameters (scikit-learn
        reads them from the signature) and pass ``locals()`` here.
        """
        arguments = dict(arguments)
        model_params = arguments.pop("model_params")
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)
        for name in model_params:
            if not name.startswith(ROUTE_PREFIX):
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {name!r}; "
                    f"arguments for the model builder are named {ROUTE_PREFIX}<name>."
                )
        # Kept apart from the declared parameters: an attribute per argument
        # would be an attribute that __init__'s signature does not declare.
        self._model_params = dict(model_params)

    # -- parameters: model__<name> arguments live beside the declared ones ---

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get parameters, including the ``model__<name>`` builder arguments.

        Parameters
        ----------
        deep : bool, default=True
            Also return parameters of contained estimators.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(getattr(self, "_model_params", {}))
        return params

    def set_params(self, **params) -> BaseKerasEnsemble:
        """Set parameters, including new or existing ``model__<name>`` arguments.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        routed = {k: params.pop(k) for k in list(params) if k.startswith(ROUTE_PREFIX)}
        self._model_params = {**getattr(self, "_model_params", {}), **routed}
        return super().set_params(**params)

    def _validate_params(self) -> None:
        super()._validate_params()
        # scikit-learn counts True as the integer 1: epochs=True would train one epoch.
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name, None)
            takes_bool = "boolean" in constraints or "verbose" in constraints
            if isinstance(value, (bool, np.bool_)) and not takes_bool:
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be a number, "
                    f"not {value!r}."
                )

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

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        # Pickled before routed arguments moved into _model_params: move them there.
        routed = {k: state.pop(k) for k in list(state) if k.startswith(ROUTE_PREFIX)}
        if routed or "_model_params" not in state:
            state["_model_params"] = {**state.get("_model_params", {}), **routed}
        # copy.copy() hands __getstate__'s portable members over unpickled.
        if "estimators_" in state:
            state["estimators_"] = [unwrap(m) for m in state["estimators_"]]
        # Pickled before a parameter existed: it had its default's effect.
        for parameter in inspect.signature(type(self).__init__).parameters.values():
            if parameter.default is not parameter.empty and parameter.name not in state:
                state[parameter.name] = parameter.default
        super().__setstate__(state)

    def __getstate__(self) -> dict:
        # Members pickle with the custom objects of the builder (joblib.dump, clone of
        # a fitted ensemble, Dask), which Keras's own pickling leaves behind.
        state = super().__getstate__()
        if "estimators_" in state:
            state = {**state, "estimators_": [portable(m) for m in state["estimators_"]]}
        return state

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
        augmentation, n_passes = self._prediction_passes(X)
        sample_weight = self._validated_sample_weight(sample_weight, X)
        y_codes, sample_weight = self._validate_target(y, sample_weight)
        rng = check_random_state(self.random_state)
        splits = self._split_rows(X, y_codes, groups, rng)
        plans = self._plan_members(splits, rng)
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
                plans = self._fitted_plans(splits) + plans[n_kept:]
            plans = plans[:n_kept] + [
                replace(plan, features=self._draw_columns(plan.seed)) for plan in plans[n_kept:]
            ]
            results, fit_strategy = self._train_members(
                builder, X, y_fit, sample_weight, plans[n_kept:], augmentation, validation, run
            )
            rows = [member_statistics(m) for m in results]
            self.fit_statistics_ = statistics_table(self._fitted_statistics(n_kept) + rows)
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
        self._heldout_passes = (n_passes, copy.deepcopy(self.augmentation))
        if self._wants_heldout():
            self._store_heldout(X, y_codes, plans)
        if self.verbose >= 1:
            self.summary()
        return self

    # -- warm start: growing a fitted ensemble --------------------------------

    def _members_kept(self, n_members: int) -> int:
        """How many fitted members this fit keeps: all of them when warm-starting, else none.

        As scikit-learn's ``BaggingClassifier``: a warm fit trains only the
        members beyond those fitted, refuses to drop members, and warns when
        there is nothing to add.
        """
        if not (self.warm_start and hasattr(self, "estimators_")):
            return 0
        n_fitted = len(self.estimators_)
        name = self._grown_by
        if n_members < n_fitted:
            raise ValueError(
                f"warm_start=True can only add members: {name}={getattr(self, name)} gives "
                f"{n_members} members, fewer than the {n_fitted} fitted. Fit with "
                "warm_start=False to start again."
            )
        if n_members == n_fitted:
            warnings.warn(
                f"Warm-start fitting without increasing {name} trains no new member.",
                UserWarning,
                stacklevel=3,
            )
        return n_fitted

    def _check_fitted_splits(self, splits: list, fitted: list) -> None:
        """Refuse to grow an ensemble whose fitted members this fit would have split otherwise."""
        if any(
            not (np.array_equal(a, c) and np.array_equal(b, d))
            for (a, b), (c, d) in zip(splits, fitted)
        ):
            raise ValueError(
                f"warm_start=True grows the fitted ensemble, but this fit would split the rows "
                f"of its {len(fitted)} members otherwise (other data, or a parameter besides "
                f"{self._grown_by} changed). Change only {self._grown_by}, or fit with "
                "warm_start=False."
            )

    def _fitted(self, name: str, n_kept: int) -> list:
        return list(getattr(self, name))[:n_kept] if n_kept else []

    def _fitted_plans(self, splits) -> list[MemberPlan]:
        """The fitted members' plans, as far as predicting held-out rows needs them."""
        return [
            MemberPlan(train, heldout, None, seed, k)
            for k, ((train, heldout), seed) in enumerate(zip(splits, self._seeds))
        ]

    def _fitted_statistics(self, n_kept: int) -> list[dict[str, float]]:
        """The rows of ``fit_statistics_`` for the fitted members, columns in their order."""
        if not n_kept:
            return []
        table = self.fit_statistics_
        names = [name for name in table if name != "member"]
        return [{name: table[name][k] for name in names} for k in range(n_kept)]

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

    def _trains_in_workers(self, X) -> bool:
        """Whether members are trained in other processes (and so pickled back)."""
        if effective_n_jobs(self.n_jobs) == 1:
            return False
        return self._strategy(X, make_augmentation(self.augmentation), quiet=True) == "sequential"

    def _check_model(self, X, y=None) -> None:
        """Everything ``fit`` checks before training (the data, one built member); train nothing.

        For ``sk-kerasbag run --check``. Leaves the estimator unfitted.
        """
        self._validate_params()
        check_callbacks(self.callbacks)
        X, y = self._validate_training_data(X, y)
        self._validate_target(y, None)
        self._probe(0, X)

    def _train_members(
        self, builder, X, y_fit, sample_weight, plans, augmentation, validation, run
    ) -> tuple[list[TrainedMember], str]:
        """Train (or reload from the run folder) every member; return them and how they trained."""
        training = Training(
            augmentation=augmentation,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            monitoring=Monitoring(self.monitor, self.patience, self.restore_best_weights),
            callbacks=self.callbacks,
        )
        files = None if run is None else [run.member(plan.index) for plan in plans]
        strategy = self._strategy(X, augmentation)
        if strategy == "packed":
            checkpoints = None if run is None else run.packed_checkpoints()
            training = replace(training, verbose=2 if self.verbose >= 1 else 0)
            return fit_packed(builder, X, y_fit, sample_weight, plans, training, files, checkpoints)
        training = replace(training, verbose=2 if self.verbose >= 2 else 0)
        stores = files or [None] * len(plans)
        jobs = (
            delayed(run_in_worker)(
                os.getpid(), fit_member, builder, X, y_fit, sample_weight, plan, training, store
            )
            for plan, store in zip(plans, stores)
        )
        # As a generator, so that progress shows as each member finishes.
        finished = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        return list(track_members(finished, len(plans), enabled=self.verbose >= 1)), "sequential"

    def _strategy(self, X, augmentation, quiet: bool = False) -> str:
        """``"packed"`` or ``"sequential"``: what ``strategy`` comes to for this fit.

        ``"auto"`` packs when the data let members share one compiled step (see
        ``_vectorised``), else trains them one by one (in ``n_jobs`` processes).
        """
        obstacle = packing_obstacle(
            callbacks=self.callbacks, augmentation=augmentation, columns=self._draws_columns()
        )
        if self.strategy == "auto":
            shared = obstacle is None and data_obstacle(X, augmentation) is None
            return "packed" if shared else "sequential"
        if self.strategy == "packed" and obstacle is not None:
            if not quiet:
                logger.warning(
                    "strategy='packed' is not possible here (%s); training the members one "
                    "after another instead.",
                    obstacle,
                )
            return "sequential"
        return self.strategy

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

    def _validate_training_data(self, X, y):
        """Check the training rows and targets; set ``input_shape_``."""
        X, y = validate_data(
            self, X, y, allow_nd=True, dtype=np.float32, **self._target_validation
        )
        self.input_shape_ = X.shape[1:]
        return X, y

    def _validate_rows(self, X):
        """Check rows given after the training data (validation or prediction rows)."""
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        self._check_input_shape(X)
        return X

    def _validated_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)

    def _plan_members(self, splits, rng) -> list[MemberPlan]:
        seeds = member_seeds(rng, len(splits))
        plans = []
        for (train_idx, heldout_idx), seed in zip(splits, seeds):
            val_idx = None
            if self.validate_on_heldout and len(heldout_idx):
                val_idx = heldout_idx
            elif self.validation_split > 0:
                train_idx, val_idx = carve_validation(
                    train_idx, self.validation_split, validation_rng(seed)
                )
            plans.append(MemberPlan(train_idx, heldout_idx, val_idx, int(seed), len(plans)))
        return plans

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

    def _store_heldout(self, X, y_codes, plans):
        """Average each row's predictions over the members that never saw it."""
        totals = np.zeros((len(X), self._n_output_columns()))
        counts = np.zeros(len(X))
        members = [k for k, plan in enumerate(plans) if len(plan.heldout_idx)]
        rows = [X.take(plans[k].heldout_idx, axis=0) for k in members]
        for k, output in zip(members, self._outputs_of(members, rows)):
            totals[plans[k].heldout_idx] += output
            counts[plans[k].heldout_idx] += 1
        covered = counts > 0
        if not covered.all():
            message = (
                f"{(~covered).sum()} of {len(X)} rows were never held out by any member; "
                "their held-out predictions are NaN and they are left out of the held-out score."
            )
            if self._every_row_held_out:
                reason = " The splitter does not hold every row out once."
            elif not covered.any():  # no held-out score at all: say so, as scikit-learn does
                reason = (
                    " No member held out any row (bootstrap=False with "
                    "max_samples=1.0 trains every member on all rows)."
                )
            elif (~covered).mean() > _MOST_ROWS_UNSCORED:
                # As scikit-learn's "Some inputs do not have OOB scores": one or two
                # bootstrap members leave 40% or more of the rows unscored.
                reason = (
                    f" The held-out score rests on the other {covered.sum()} rows only; "
                    f"more members ({self._grown_by}) hold more rows out."
                )
            else:  # random draws: 5 bootstrap members leave about 10% of rows in every sample
                reason = None
                logger.info(message)
            if reason is not None:
                warnings.warn(message + reason, stacklevel=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            heldout = totals / counts[:, None]
        setattr(self, self._heldout_attribute, self._format_output(heldout))
        score = np.nan
        if covered.any():
            score = self._score_output(y_codes[covered], heldout[covered])
        setattr(self, self._heldout_score_attribute, score)

    def _check_fitted_state(self) -> None:
        """Raise ValueError when the fitted attributes do not agree with each other.

        ``load`` calls it: a folder's ``estimator.json`` can hold anything,
        and what would otherwise fail at prediction (an index out of range, a
        division by zero) becomes one error at load that says what is wrong.
        """
        n = len(self.estimators_)
        if n == 0:
            raise ValueError("it lists no members")
        per_member = (("histories_", dict), ("preprocessing_", Preprocessing), ("_seeds", int))
        for name, kind in per_member:
            value = getattr(self, name, None)
            if not (isinstance(value, list) and len(value) == n):
                raise ValueError(f"{name} is not a list of one item per member ({n})")
            if not all(isinstance(item, kind) and not isinstance(item, bool) for item in value):
                raise ValueError(f"{name} holds items that are not of type {kind.__name__}")
        shape = getattr(self, "input_shape_", None)
        if not (
            isinstance(shape, tuple)
            and shape
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise ValueError(f"input_shape_ is {shape!r}, not a tuple of positive integers")
        if getattr(self, "n_features_in_", shape[0]) != shape[0]:  # directory ones have none
            raise ValueError(f"n_features_in_ does not match input_shape_ {shape}")
        statistics = getattr(self, "fit_statistics_", None)
        if not (
            isinstance(statistics, dict)
            and all(hasattr(v, "__len__") and len(v) == n for v in statistics.values())
            and list(statistics.get("member", [])) == list(range(1, n + 1))
        ):
            raise ValueError(f"fit_statistics_ is not a table of {n} members")
        passes = getattr(self, "_heldout_passes", None)
        if not (isinstance(passes, tuple) and len(passes) == 2 and isinstance(passes[0], int)):
            raise ValueError("_heldout_passes is malformed")
        if not isinstance(getattr(self, "_output_spec", None), OutputSpec):
            raise ValueError("_output_spec is not an output description")
        self._check_target_state()
        self._check_output(self._output_spec)
        # The members must take the rows and give the columns the attributes describe.
        # Read from their symbolic inputs and output, not from a forward pass, which
        # cost a trace or compilation per member (a Model subclass, which has no
        # symbolic output of its own, is traced on a symbolic row: nothing computed).
        # What reaches a member is its columns of the row, preprocessed: numpy, one row.
        row = np.zeros((1, *shape), dtype=np.float32)
        width = self._output_spec.width
        for k, member in enumerate(self.estimators_):
            columns = self._member_columns(k)
            rows = self.preprocessing_[k].transform(row if columns is None else row[:, columns])
            takes = tuple(rows.shape[1:])
            try:
                inputs = [tuple(x.shape[1:]) for x in member.inputs]
            except (AttributeError, ValueError):  # a Model subclass: its trace checks
                inputs = [takes]
            if len(inputs) != 1 or not (
                len(inputs[0]) == len(takes)
                and all(d is None or d == t for d, t in zip(inputs[0], takes))
            ):
                raise ValueError(
                    f"member {k + 1} takes inputs of shape {', '.join(map(str, inputs))}, "
                    f"not the rows of shape {takes} its attributes describe"
                )
            try:
                gives = tuple(output_of(member, takes, member).shape[1:])
            except Exception as error:
                raise ValueError(
                    f"member {k + 1} does not work on rows of shape {takes}: {error}"
                ) from error
            if gives != (width,):
                raise ValueError(
                    f"member {k + 1} gives {gives} outputs per row, not the {width} its "
                    "attributes describe"
                )

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

    # -- predict -------------------------------------------------------------

    def member_predictions(self, X) -> np.ndarray:
        """Each member's output for ``X`` (averaged over TTA passes when ``tta > 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_members, n_samples, n_columns)
            Class probabilities (classifiers, in ``classes_`` order) or
            predictions (regressors, one column per target).
        """
        X = self._validate_predict_input(X)
        members = list(range(len(self.estimators_)))
        return np.stack(self._outputs_of(members, [X] * len(members)))

    def _mean_member_output(self, X) -> np.ndarray:
        """Soft vote: the mean of the members' outputs (summed a chunk of rows at a time)."""
        X = self._validate_predict_input(X)
        members = list(range(len(self.estimators_)))
        chunks = self._chunk_outputs(members, [X] * len(members))
        return np.concatenate([sum(outputs) / len(members) for _, outputs in chunks])

    def _outputs_of(self, members: list[int], rows: list) -> list[np.ndarray]:
        """The output of each member in ``members`` on its own ``rows``."""
        outputs = [[] for _ in members]
        for due, results in self._chunk_outputs(members, rows):
            for i, result in zip(due, results):
                outputs[i].append(result)
        return [np.concatenate(output) for output in outputs]

    def _chunk_outputs(self, members: list[int], rows: list):
        """Per chunk of rows: which of ``members`` have rows in it, and their outputs there.

        A chunk is read once (from files, when rows are image files) for all
        the members given the same rows. Members that can share one compiled
        forward pass (``_vectorised.shared_forward``) run through it.
        """
        if not members:
            return
        passes = self._prediction_passes(rows[0])
        forward = shared_forward([self.estimators_[k] for k in members])
        size = self._prediction_chunk_rows
        for start in range(0, max(len(x) for x in rows), size):
            due = [i for i, x in enumerate(rows) if start < len(x)]
            read = {}  # rows shared by several members are read once
            parts = [read.setdefault(id(rows[i]), rows[i][start : start + size]) for i in due]
            every = len(due) == len(rows)
            yield due, self._members_output(
                [members[i] for i in due], parts, *passes, forward if every else None
            )

    @property
    def _prediction_chunk_rows(self) -> int:
        """Rows per forward pass: at least 256 (or ``batch_size``), more for small rows.

        Big batches cost fewer calls per row and let the backends spread a
        convolution over the cores: 10,000 digits rows through 5 CNNs took
        0.33 s (TensorFlow) and 0.31 s (JAX) in batches of 256, 0.22 s and
        0.28 s in batches of 1,024. Up to ``_PREDICTION_BATCH_VALUES``
        input values and 1,024 rows per batch (1,024 rows of 8x8 images, 256
        of 32x32x3), a power of two (see ``_members.padded_rows``).
        """
        row_values = max(int(np.prod(self.input_shape_)), 1)
        rows = 1 << max((_PREDICTION_BATCH_VALUES // row_values).bit_length() - 1, 0)
        return max(self.batch_size or 32, 256, min(rows, 1024))

    def _validate_predict_input(self, X):
        check_is_fitted(self)
        return self._validate_rows(X)

    def _check_input_shape(self, X):
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has rows of shape {X.shape[1:]}, but {type(self).__name__} was "
                f"fitted on rows of shape {self.input_shape_}."
            )

    def _prediction_passes(self, X):
        """The augmentation to draw TTA passes from, and how many passes to draw.

        ``augmentation`` and ``tta`` are read at every prediction, not only at
        fit, so they can be changed on a fitted estimator.
        """
        validate_parameter_constraints(
            self._prediction_constraints,
            {"augmentation": self.augmentation, "tta": self.tta},
            caller_name=type(self).__name__,
        )
        augmentation = make_augmentation(self.augmentation)
        augmentation.check_input(X)
        if self.tta and isinstance(augmentation, NoAugmentation):
            raise ValueError(
                f"tta={self.tta} needs an augmentation to draw test-time transforms from; "
                "set augmentation, or tta=0."
            )
        # Passes of an augmentation that moves nothing would equal the clean pass.
        return augmentation, self.tta if augmentation.has_random_transforms else 0

    def _members_output(
        self, members: list[int], rows: list, augmentation, n_passes: int, forward=None
    ) -> list[np.ndarray]:
        """Each member's output on its rows: the clean pass averaged with ``n_passes`` augmented.

        The clean pass gets the member's fitted preprocessing only. Each pass is
        turned into probabilities (or predictions) before averaging, so
        probabilities still sum to 1. ``forward`` runs every member at once
        (see :meth:`_outputs_of`).
        """
        models = [self.estimators_[k] for k in members]
        totals = [0.0] * len(members)
        for p in range(1 + n_passes):
            # One pass at a time, so TTA holds one augmented copy of the rows, not tta.
            inputs = []
            for k, X in zip(members, rows):
                columns = self._member_columns(k)
                if columns is not None:
                    X = np.asarray(X)[:, columns]
                preprocessing = self.preprocessing_[k]
                if p == 0:
                    inputs.append(preprocessing.transform(X))
                else:
                    seed = tta_seed(self._seeds[k], p - 1)
                    inputs.append(augmentation.augment(X, preprocessing, seed))
            raw = predict_members(models, inputs, self._prediction_chunk_rows, forward)
            totals = [total + self._transform_output(r) for total, r in zip(totals, raw)]
        for k, total, X in zip(members, totals, rows):
            broken = ~np.isfinite(total).all(axis=1)
            if broken.any():
                raise NotFiniteError(
                    f"Member {k + 1} gives NaN or infinite outputs for {broken.sum()} of "
                    f"{len(X)} rows. Rows with values far outside the training data's range "
                    "cause this; so do weights that diverged without showing it in the loss.",
                    member=k + 1,
                )
        return [total / (1 + n_passes) for total in totals]

    # -- hooks ---------------------------------------------------------------

    _target_validation: dict = {}
    _heldout_attribute: str
    _heldout_score_attribute: str
    # K-fold splits hold every row out (a splitter that does not is worth a
    # warning); random bagging draws leave some rows in every member's sample.
    _every_row_held_out: bool

    # The parameter whose increase grows a fitted ensemble (warm_start).
    _grown_by: str

    def _split_rows(self, X, y_codes, groups, rng):
        raise NotImplementedError

    def _fitted_splits(self, n_samples: int) -> list:
        """``(train_idx, heldout_idx)`` of every fitted member, from its fitted attributes."""
        raise NotImplementedError

    def _check_target_state(self) -> None:
        raise NotImplementedError

    # Random subspaces (bagging's max_features): by default every member takes
    # the whole row.

    def _draws_columns(self) -> bool:
        """Whether members train on column subsets of their own."""
        return False

    def _member_input_shape(self) -> tuple:
        """The row shape a member takes (the builder's ``input_shape``)."""
        return self.input_shape_

    def _draw_columns(self, seed: int) -> np.ndarray | None:
        """The columns the member seeded ``seed`` takes; None for the whole row."""
        return None

    def _record_columns(self, columns: list, n_kept: int) -> None:
        """Keep each member's columns as fitted attributes (the ``n_kept`` fitted ones' stay)."""

    def _member_columns(self, k: int) -> np.ndarray | None:
        """The columns fitted member ``k`` takes; None for the whole row."""
        return None

    def _record_splits(self, splits) -> None:
        raise NotImplementedError

    def _wants_heldout(self) -> bool:
        raise NotImplementedError

    def _validate_target(self, y, sample_weight):
        raise NotImplementedError

    def _target_codes(self, y):
        raise NotImplementedError

    def _data_arguments(self) -> dict:
        raise NotImplementedError

    def _n_output_columns(self) -> int:
        raise NotImplementedError

    def _check_output(self, spec: OutputSpec) -> None:
        raise NotImplementedError

    def _encode_target(self, y_codes):
        raise NotImplementedError

    def _transform_output(self, raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _format_output(self, output):
        raise NotImplementedError

    def _score_output(self, y_codes, output) -> float:
        raise NotImplementedError
