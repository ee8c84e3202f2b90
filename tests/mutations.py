#!/usr/bin/env python
"""Mutation check for sk_kerasbag: deliberate one-line bugs the test suite must catch.

Usage::

    python mutations.py --repo /path/to/checkout [--only ID ...] [--quick] [--survivors]
                        [--skip-baseline] [--timeout S] [--list] [-v]

``--quick`` runs the 28 entries marked ``quick=True`` (4 per area); ``--survivors``
runs the SURVIVORS list instead (bugs no listed test catches; they are expected
to SURVIVE, so the exit status is then 1 unless a test has started catching one).

For every mutation below, the script

1. finds the original line in the file by its text (stripped; it must occur
   exactly once in the file, so edits elsewhere in the file do not matter);
2. replaces it with the mutated line (given stripped: the original line's
   indentation is kept);
3. runs ``python -m pytest -n 0 -p no:cacheprovider -q -x <tests>`` in the repo
   with PYTHONPATH=repo, KERAS_BACKEND=tensorflow, TF_CPP_MIN_LOG_LEVEL=3;
4. ALWAYS writes the file's original bytes back (try/finally), and checks them.

A mutation is CAUGHT when pytest exits with 1 (a test failed), SURVIVED when it
exits with 0. Anything else (the line not found or not unique, the mutated file
not compiling, pytest usage / collection errors, a timeout) is an ERROR.

Before mutating, every listed test is run once on the unmutated code, in one
pytest call: a test that fails there cannot tell a mutation from the baseline.

Exit status: 0 when every mutation run was CAUGHT; 1 when any SURVIVED or
ERRORed, or when a catching test fails on the unmutated code.

To maintain: each entry is a dict (id, file relative to the repo, original,
replacement, description, tests, optional quick); ``tests`` are pytest node ids
relative to the repo root: rename them here when tests are renamed. Edit
``original`` if the library's line is reworded; where it stops being unique or
goes missing, the entry reports ERROR instead of mutating anything else.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

PYTEST = ["-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "-x"]

T = "tests/"
MUTATIONS: list[dict] = [
    # -- sk_kerasbag/_splitting.py ---------------------------------------------------
    dict(
        id="split-member-seed",
        file="sk_kerasbag/_splitting.py",
        original="member_rng = bagging_rows_rng(base_seed, k)",
        replacement="member_rng = bagging_rows_rng(base_seed, 0)",
        description="every bagging member draws the same rows (member index dropped from its seed)",
        tests=[T + "test_estimators.py::test_bagging_samples_and_oob"],
    ),
    dict(
        id="split-without-replacement-limit",
        quick=True,
        file="sk_kerasbag/_splitting.py",
        original="if not bootstrap and n_draw > n_samples:",
        replacement="if not bootstrap and n_draw >= n_samples:",
        description="bootstrap=False refuses max_samples=1.0 (> became >=)",
        tests=[T + "test_output.py::test_bagging_that_holds_no_row_out_warns"],
    ),
    dict(
        id="split-out-of-bag-inverted",
        file="sk_kerasbag/_splitting.py",
        original="return np.flatnonzero(~in_bag)",
        replacement="return np.flatnonzero(in_bag)",
        description="out-of-bag rows are the in-bag rows (negation dropped)",
        tests=[T + "test_output.py::test_bagging_that_holds_no_row_out_warns"],
    ),
    dict(
        id="split-columns-off-by-one",
        file="sk_kerasbag/_splitting.py",
        original="n_draw = max(1, int(max_features * n_features))",
        replacement="n_draw = max(1, int(max_features * n_features) + 1)",
        description="a fractional max_features draws one column too many",
        tests=[T + "test_subspaces.py::test_each_member_trains_and_predicts_on_its_own_columns"],
    ),
    dict(
        id="split-columns-limit",
        quick=True,
        file="sk_kerasbag/_splitting.py",
        original="if n_draw > n_features:",
        replacement="if n_draw >= n_features:",
        description="max_features equal to the column count is refused (> became >=)",
        tests=[T + "test_subspaces.py::test_bootstrap_features_draws_columns_with_replacement"],
    ),
    dict(
        id="split-bootstrap-features-ignored",
        file="sk_kerasbag/_splitting.py",
        original="if n_draw == n_features and not bootstrap_features:",
        replacement="if n_draw == n_features:",
        description="all columns with bootstrap_features=True skips the draw with replacement",
        tests=[T + "test_subspaces.py::test_bootstrap_features_draws_columns_with_replacement"],
    ),
    dict(
        id="split-repeats-without-shuffle",
        file="sk_kerasbag/_splitting.py",
        original="if n_repeats > 1 and not shuffle:",
        replacement="if n_repeats > 1 and shuffle:",
        description="n_repeats>1 check inverted: refuses shuffle=True, accepts shuffle=False",
        tests=[T + "test_folds.py::test_repeats_are_refused_where_they_cannot_mean_anything"],
    ),
    dict(
        id="split-stratified-swapped",
        quick=True,
        file="sk_kerasbag/_splitting.py",
        original="splitter_class = KFold if strata is None else StratifiedKFold",
        replacement="splitter_class = StratifiedKFold if strata is None else KFold",
        description="stratified and plain K-fold swapped for a single round",
        tests=[
            T + "test_targets.py::"
            "test_multilabel_y_averages_per_label_probabilities_and_folds_unstratified"
        ],
    ),
    dict(
        id="split-strata-ignored",
        file="sk_kerasbag/_splitting.py",
        original="labels = y if strata is None else strata",
        replacement="labels = y",
        description="default folds split on y, not on the strata (regressor bins ignored)",
        tests=[
            T + "test_folds.py::test_stratified_regressor_folds_each_cover_the_whole_target_range_and_repeats_average"
        ],
    ),
    dict(
        id="split-quantile-bin-count",
        quick=True,
        file="sk_kerasbag/_splitting.py",
        original="n_bins = max(1, len(y) // n_splits)",
        replacement="n_bins = max(1, len(y) // n_splits + 1)",
        description="one quantile bin too many (bins can hold fewer than n_splits rows)",
        tests=[T + "test_folds.py::test_quantile_bins_have_equal_counts_of_at_least_n_splits_rows"],
    ),
    # -- sk_kerasbag/_callbacks.py ----------------------------------------------------
    dict(
        id="cb-declared-direction",
        quick=True,
        file="sk_kerasbag/_callbacks.py",
        original='return direction == "up"',
        replacement='return direction == "down"',
        description="a compiled metric's declared direction is read backwards",
        tests=[T + "test_training.py::test_metric_directions_come_from_keras_and_callback_state_leaves_out_configuration"],
    ),
    dict(
        id="cb-metric-suffix",
        quick=True,
        file="sk_kerasbag/_callbacks.py",
        original='base = base.rstrip("_0123456789")  # precision_1: a second metric of the kind',
        replacement='base = base.rstrip("0123456789")',
        description="a numbered metric (precision_1) keeps its underscore and loses its direction",
        tests=[T + "test_training.py::test_metric_directions_come_from_keras_and_callback_state_leaves_out_configuration"],
    ),
    dict(
        id="cb-monitor-without-validation",
        file="sk_kerasbag/_callbacks.py",
        original='if not validated and monitor.startswith("val_"):',
        replacement='if validated and monitor.startswith("val_"):',
        description="val_ monitor is stripped for validated members instead of unvalidated ones",
        tests=[T + "test_training.py::test_patience_without_validation_watches_the_training_loss"],
    ),
    dict(
        id="cb-restores-without-validation",
        quick=True,
        file="sk_kerasbag/_callbacks.py",
        original="self.restores = monitoring.restore_best_weights and validated",
        replacement="self.restores = monitoring.restore_best_weights",
        description="members without validation data restore their best training epoch",
        tests=[T + "test_training.py::test_patience_without_validation_watches_the_training_loss"],
    ),
    dict(
        id="cb-held-epoch-off-by-one",
        file="sk_kerasbag/_callbacks.py",
        original="return self.epochs - 1",
        replacement="return self.epochs",
        description="the held epoch of an unrestored member is one past its last epoch",
        tests=[T + "test_training.py::test_patience_without_validation_watches_the_training_loss"],
    ),
    dict(
        id="cb-patience-off-by-one",
        file="sk_kerasbag/_callbacks.py",
        original="self.stopped = since >= max(self.patience, 1)",
        replacement="self.stopped = since > max(self.patience, 1)",
        description="early stopping waits one epoch longer than patience (>= became >)",
        tests=[T + "test_training.py::test_patience_without_validation_watches_the_training_loss"],
    ),
    dict(
        id="cb-improvement-direction",
        file="sk_kerasbag/_callbacks.py",
        original=(
            "return value > self.best_value if self.higher_is_better "
            "else value < self.best_value"
        ),
        replacement=(
            "return value < self.best_value if self.higher_is_better "
            "else value > self.best_value"
        ),
        description="the best epoch is the worst one (comparison swapped)",
        tests=[T + "test_estimators.py::test_user_validation_data_is_used"],
    ),
    dict(
        id="cb-finite-check-plain-loss",
        file="sk_kerasbag/_callbacks.py",
        original='if (name == "loss" or name.endswith("_loss")) and not np.isfinite(value):',
        replacement='if name.endswith("_loss") and not np.isfinite(value):',
        description="a non-finite training 'loss' is not checked (only *_loss names)",
        tests=[
            T + "test_training.py::test_a_member_whose_loss_becomes_infinite_stops_the_fit_"
            "naming_member_epoch_and_causes[sequential]"
        ],
    ),
    dict(
        id="cb-fresh-copy-skipped",
        file="sk_kerasbag/_callbacks.py",
        original="fresh.append(_fresh_copy(callback))",
        replacement="fresh.append(callback)",
        description="members share the user's callback objects instead of fresh copies",
        tests=[T + "test_estimators.py::test_each_member_gets_fresh_callbacks"],
    ),
    dict(
        id="cb-factory-index",
        file="sk_kerasbag/_callbacks.py",
        original="made = callback(k)",
        replacement="made = callback(k + 1)",
        description="callback factories get the member index counted from 1, not 0",
        tests=[T + "test_training.py::test_members_hold_the_epoch_their_statistics_name"],
    ),
    dict(
        id="cb-configuration-saved-as-state",
        quick=True,
        file="sk_kerasbag/_fixes.py",
        original='if name.startswith("_") or name in ("params", "validation_data", *configuration):',
        replacement='if name.startswith("_") or name in ("params", "validation_data"):',
        description="checkpointed callback state includes constructor configuration",
        tests=[
            T + "test_training.py::test_metric_directions_come_from_keras_and_callback_state_leaves_out_configuration",
            T + "test_fixes.py::test_early_stopping_state_is_where_it_is_read_and_restored",
        ],
    ),
    # -- sk_kerasbag/_tasks.py --------------------------------------------------------
    dict(
        id="task-one-hot-any",
        file="sk_kerasbag/_targets.py",
        original="return ONE_HOT if (ones == 1).all() else MULTILABEL",
        replacement="return ONE_HOT if (ones == 1).any() else MULTILABEL",
        description="an indicator matrix with any single-label row is taken as one-hot",
        tests=[
            T + "test_targets.py::"
            "test_multilabel_y_averages_per_label_probabilities_and_folds_unstratified"
        ],
    ),
    dict(
        id="task-one-hot-axis",
        quick=True,
        file="sk_kerasbag/_targets.py",
        original='return np.argmax(y, axis=1)',
        replacement='return np.argmax(y, axis=0)',
        description="one-hot rows decoded along the wrong axis",
        tests=[
            T + "test_targets.py::test_one_hot_y_trains_on_its_classes_and_predicts_one_hot_rows"
        ],
    ),
    dict(
        id="task-multilabel-tag-always",
        file="sk_kerasbag/_tasks.py",
        original='tags.classifier_tags.multi_label = takes_argument(self.model, "target_kind")',
        replacement="tags.classifier_tags.multi_label = True",
        description="every classifier declares multilabel support, softmax builders too",
        tests=[
            T + "test_targets.py::"
            "test_multilabel_support_is_declared_only_for_a_builder_taking_target_kind"
        ],
    ),
    dict(
        id="task-target-kind-not-given",
        quick=True,
        file="sk_kerasbag/_targets.py",
        original='return {"n_classes": len(self.classes), "target_kind": self.kind}',
        replacement='return {"n_classes": len(self.classes)}',
        description="the builder is not told the target's kind",
        tests=[T + "test_targets.py::test_the_bundled_builders_build_the_head_each_target_kind_needs"],
    ),
    dict(
        id="task-single-class",
        file="sk_kerasbag/_targets.py",
        original='if np.unique(y_codes).size < 2:',
        replacement='if np.unique(y_codes).size < 1:',
        description="a single-class y is no longer refused",
        tests=[T + "test_errors.py::test_single_class_target"],
    ),
    dict(
        id="task-absent-classes-swapped",
        quick=True,
        file="sk_kerasbag/_targets.py",
        original='absent = np.setdiff1d(np.arange(len(self.classes)), y_codes)',
        replacement='absent = np.setdiff1d(y_codes, np.arange(len(self.classes)))',
        description="classes without rows computed with setdiff1d's arguments swapped",
        tests=[T + "test_targets.py::test_balanced_class_weight_names_a_one_hot_column_without_rows"],
    ),
    dict(
        id="task-weight-one-class",
        file="sk_kerasbag/_targets.py",
        original="if sample_weight is not None and np.unique(y_codes[sample_weight > 0]).size < 2:",
        replacement=(
            "if sample_weight is not None and np.unique(y_codes[sample_weight >= 0]).size < 2:"
        ),
        description="zero-weight rows count as classes with positive weight (> became >=)",
        tests=[T + "test_errors.py::test_sample_weight_leaving_one_class"],
    ),
    dict(
        id="task-unknown-label-clip",
        quick=True,
        file="sk_kerasbag/_targets.py",
        original='codes = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)',
        replacement='codes = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes))',
        description="validation labels past the last class index out of range (off by one)",
        tests=[T + "test_errors.py::test_validation_data_with_unknown_label"],
    ),
    dict(
        id="task-indicator-dtype",
        file="sk_kerasbag/_targets.py",
        original='return np.eye(len(self.classes), dtype=np.int64)[self.decisions(output)]',
        replacement='return np.eye(len(self.classes))[self.decisions(output)]',
        description="one-hot predictions in float64, not scikit-learn's int64",
        tests=[
            T + "test_targets.py::test_one_hot_y_trains_on_its_classes_and_predicts_one_hot_rows"
        ],
    ),
    dict(
        id="task-sigmoid-columns-swapped",
        file="sk_kerasbag/_targets.py",
        original="return np.hstack([1.0 - positive, positive])",
        replacement="return np.hstack([positive, 1.0 - positive])",
        description="a one-unit sigmoid head's two class columns are swapped",
        tests=[
            T + "test_estimators.py::test_binary_classification_with_any_head[one-sigmoid-unit]"
        ],
    ),
    dict(
        id="task-normalise-axis",
        file="sk_kerasbag/_targets.py",
        original='return raw / raw.sum(axis=1, keepdims=True)',
        replacement='return raw / raw.sum(axis=0, keepdims=True)',
        description="probabilities normalised over rows instead of classes",
        tests=[T + "test_estimators.py::test_classifier_string_labels[kfold3]"],
    ),
    dict(
        id="task-binary-score-sign",
        file="sk_kerasbag/_tasks.py",
        original=(
            "return output[:, 1] if self._output_spec.width == 1 "
            "else output[:, 1] - output[:, 0]"
        ),
        replacement=(
            "return output[:, 1] if self._output_spec.width == 1 "
            "else output[:, 0] - output[:, 1]"
        ),
        description="two-unit binary decision_function has the wrong sign",
        tests=[
            T + "test_estimators.py::"
            "test_held_out_predictions_and_every_method_agree_for_every_binary_head[hinge-2]"
        ],
    ),
    dict(
        id="task-regressor-ravel",
        quick=True,
        file="sk_kerasbag/_targets.py",
        original="return output.ravel() if self.ndim == 1 else output",
        replacement="return output.ravel() if self.ndim == 2 else output",
        description="regressor output shaped for the wrong y dimensionality",
        tests=[T + "test_estimators.py::test_regressor_target_shapes[kfold_regressor]"],
    ),
    # -- sk_kerasbag/_plans.py, sk_kerasbag/_members.py, sk_kerasbag/_inference.py -------
    dict(
        id="member-weights-not-indexed",
        quick=True,
        file="sk_kerasbag/_plans.py",
        original="weights = None if sample_weight is None else sample_weight[idx]",
        replacement="weights = None if sample_weight is None else sample_weight",
        description="a member's sample weights are not subset to its rows",
        tests=[T + "test_estimators.py::test_class_weight"],
    ),
    dict(
        id="member-validation-split-ignored",
        file="sk_kerasbag/_plans.py",
        original="if plan.val_idx is None:",
        replacement="if True:",
        description="the plan's validation rows are never used (always no validation)",
        tests=[T + "test_estimators.py::test_oof_is_honest_by_default_and_old_behaviour_is_opt_in"],
    ),
    dict(
        id="member-columns-axis",
        quick=True,
        file="sk_kerasbag/_members.py",
        original="return (np.asarray(rows[0])[:, features], *rows[1:])",
        replacement="return (np.asarray(rows[0])[features], *rows[1:])",
        description="a member's columns are taken as rows (wrong axis)",
        tests=[T + "test_subspaces.py::test_each_member_trains_and_predicts_on_its_own_columns"],
    ),
    dict(
        id="member-numpy-state-not-restored",
        file="sk_kerasbag/_random.py",
        original="np.random.set_state(numpy_state)",
        replacement="pass",
        description="seeding leaves NumPy's global generator changed (restore skipped)",
        tests=[T + "test_estimators.py::test_same_seed_same_predictions_and_a_verbose_fit_logs_each_member_leaving_global_seed_alone"],
    ),
    dict(
        id="inference-cache-holds-models",
        file="sk_kerasbag/_inference.py",
        original="    return tuple(weakref.ref(model) for model in models)",
        replacement="    return tuple((lambda m=model: m) for model in models)",
        description="the cache of compiled forward passes keeps every ensemble's members alive",
        tests=[
            T + "test_output.py::"
            "test_many_members_train_and_predict_without_retracing_rows_batched_in_any_way"
        ],
    ),
    dict(
        id="member-padding-not-cut",
        quick=True,
        file="sk_kerasbag/_inference.py",
        original="outputs.append(np.asarray(forward(padded))[: len(batch)])",
        replacement="outputs.append(np.asarray(forward(padded)))",
        description="padding rows of the last batch are returned as predictions",
        tests=[T + "test_subspaces.py::test_each_member_trains_and_predicts_on_its_own_columns"],
    ),
    dict(
        id="member-progress-index",
        quick=True,
        file="sk_kerasbag/_members.py",
        original=(
            "progress = MemberProgress(training.monitoring, validation is not None, plan.index)"
        ),
        replacement=(
            "progress = MemberProgress(training.monitoring, validation is not None, plan.index + 1)"
        ),
        description="errors name the member after the one that failed (index off by one)",
        tests=[T + "test_training.py::test_a_learning_rate_too_high_is_caught_at_the_epoch_it_diverges"],
    ),
    # -- sk_kerasbag/stacking.py ------------------------------------------------------
    dict(
        id="stack-partition-check-inverted",
        quick=True,
        file="sk_kerasbag/_out_of_fold.py",
        original="if not check_is_permutation(test_indices, num_samples(X)):",
        replacement="if check_is_permutation(test_indices, num_samples(X)):",
        description="oof_predict refuses every cv that partitions the rows",
        tests=[T + "test_stacking.py::test_cv_must_partition_the_rows"],
    ),
    dict(
        id="stack-oof-order",
        quick=True,
        file="sk_kerasbag/_out_of_fold.py",
        original="order[test_indices] = np.arange(len(test_indices))",
        replacement="order[:] = test_indices",
        description="out-of-fold rows put back with the inverse permutation",
        tests=[T + "test_stacking.py::test_oof_train_equals_cross_val_predict[KFold-predict_proba]"],
    ),
    dict(
        id="stack-vote-axis",
        quick=True,
        file="sk_kerasbag/_out_of_fold.py",
        original="counts = (codes[..., None] == np.arange(len(classes))).sum(axis=0)",
        replacement="counts = (codes[..., None] == np.arange(len(classes))).sum(axis=1)",
        description="majority vote counts across rows instead of across folds",
        tests=[T + "test_stacking.py::test_classifier_labels_are_voted"],
    ),
    dict(
        id="stack-one-hot-vote-axis",
        quick=True,
        file="sk_kerasbag/_out_of_fold.py",
        original="codes = majority_vote(list(np.argmax(labels, axis=-1)))",
        replacement="codes = majority_vote(list(np.argmax(labels, axis=1)))",
        description="one-hot fold predictions decoded along the row axis",
        tests=[T + "test_targets.py::test_one_hot_rows_are_voted_on_as_classes"],
    ),
    dict(
        id="stack-mean-axis",
        file="sk_kerasbag/_out_of_fold.py",
        original="return np.mean(np.stack(fold_preds), axis=0)",
        replacement="return np.mean(np.stack(fold_preds), axis=1)",
        description="test predictions averaged over rows instead of folds",
        tests=[T + "test_stacking.py::test_test_predictions_are_the_mean_of_the_fold_models"],
    ),
    dict(
        id="stack-prefit-row-count",
        file="sk_kerasbag/_out_of_fold.py",
        original="if num_samples(X) != n_rows:",
        replacement="if num_samples(X) > n_rows:",
        description='cv="prefit" accepts fewer rows than the estimator was fitted on',
        tests=[T + "test_stacking.py::test_prefit_errors"],
    ),
    dict(
        id="stack-prefit-no-copy",
        file="sk_kerasbag/_out_of_fold.py",
        original="return np.array(output, copy=True)",
        replacement="return output",
        description='cv="prefit" returns the estimator\'s own oof array, not a copy',
        tests=[T + "test_stacking.py::test_prefit_errors"],
    ),
    dict(
        id="stack-kfold-base-own-folds",
        file="sk_kerasbag/stacking.py",
        original="estimator.set_params(cv=folds).fit(X, y, **params)",
        replacement="estimator.fit(X, y, **params)",
        description="a K-fold base trains on its own folds, not the stacker's",
        tests=[T + "test_stacking.py::test_a_kfold_base_trains_once_on_the_stackers_folds"],
    ),
    # -- sk_kerasbag/persistence.py ---------------------------------------------------
    dict(
        id="persist-array-key",
        file="sk_kerasbag/_descriptions.py",
        original='key = f"a{len(arrays)}"',
        replacement='key = f"a{len(value)}"',
        description="saved arrays keyed by their length: arrays of one length overwrite each other",
        tests=[T + "test_persistence.py::test_save_load_round_trip_predicts_identically_without_pickle"],
    ),
    dict(
        id="persist-tuple-as-list",
        quick=True,
        file="sk_kerasbag/_descriptions.py",
        original='return tuple(restore(v, arrays, resolve) for v in description["__tuple__"])',
        replacement='return [restore(v, arrays, resolve) for v in description["__tuple__"]]',
        description="saved tuples come back as lists",
        tests=[T + "test_persistence.py::test_save_load_round_trip_predicts_identically_without_pickle"],
    ),
    dict(
        id="persist-last-member-dropped",
        file="sk_kerasbag/persistence.py",
        original=(
            'members = [f"member_{k:02d}.keras" for k in range(1, len(estimator.estimators_) + 1)]'
        ),
        replacement=(
            'members = [f"member_{k:02d}.keras" for k in range(1, len(estimator.estimators_))]'
        ),
        description="save writes one member too few (off by one)",
        tests=[T + "test_persistence.py::test_save_load_round_trip_predicts_identically_without_pickle"],
    ),
    dict(
        id="persist-fitted-attribute-check",
        quick=True,
        file="sk_kerasbag/persistence.py",
        original=(
            'if name.startswith("__") or name in params or hasattr(estimator_class, name):'
        ),
        replacement='if name.startswith("__") or name in params:',
        description="load lets a manifest overwrite class attributes (methods)",
        tests=[T + "test_persistence.py::test_a_crafted_folder_cannot_make_load_or_fit_run_code"],
    ),
    dict(
        id="persist-qualname-lookup",
        file="sk_kerasbag/persistence.py",
        original="if qualname in custom_objects:",
        replacement="if False:",
        description="custom_objects keyed by plain name are not found",
        tests=[T + "test_persistence.py::test_safe_load_takes_functions_only_from_custom_objects"],
    ),
    dict(
        id="persist-member-safe-mode",
        quick=True,
        file="sk_kerasbag/persistence.py",
        original="return load_model(path, custom_objects=custom_objects, safe_mode=safe_mode)",
        replacement="return load_model(path, custom_objects=custom_objects, safe_mode=False)",
        description="members always load with Keras's safe mode off",
        tests=[T + "test_persistence.py::test_members_load_in_keras_safe_mode"],
    ),
    dict(
        id="persist-builder-optional",
        quick=True,
        file="sk_kerasbag/persistence.py",
        original='if name == "model":',
        replacement='if name == "models":',
        description="a missing builder fails the load instead of deferring to refit",
        tests=[T + "test_persistence.py::test_safe_load_takes_functions_only_from_custom_objects"],
    ),
    # -- sk_kerasbag/folders.py, sk_kerasbag/directory.py -------------------------------
    dict(
        id="folders-hidden-files",
        file="sk_kerasbag/folders.py",
        original='if not name.startswith(".")',
        replacement='if not name.startswith("..")',
        description="hidden image files are listed",
        tests=[T + "test_directory.py::test_list_images_order_labels_and_filtering"],
    ),
    dict(
        id="folders-extension-case",
        file="sk_kerasbag/folders.py",
        original="and Path(name).suffix.lower() in IMAGE_EXTENSIONS",
        replacement="and Path(name).suffix in IMAGE_EXTENSIONS",
        description="upper-case extensions (a.PNG) are not listed",
        tests=[T + "test_directory.py::test_list_images_order_labels_and_filtering"],
    ),
    dict(
        id="folders-loose-image-label",
        file="sk_kerasbag/folders.py",
        original=(
            "labels = np.array([parts[0] if len(parts) > 1 else None for parts in found], "
            "dtype=object)"
        ),
        replacement=(
            "labels = np.array([parts[0] if len(parts) > 0 else None for parts in found], "
            "dtype=object)"
        ),
        description="an image directly in the folder gets its file name as class",
        tests=[T + "test_directory.py::test_list_images_order_labels_and_filtering"],
    ),
    dict(
        id="folders-empty-class-swapped",
        file="sk_kerasbag/folders.py",
        original="empty = sorted(classes - set(labels))",
        replacement="empty = sorted(set(labels) - classes)",
        description="empty class folders are not detected (set difference reversed)",
        tests=[T + "test_directory.py::test_folder_layout_errors[empty class folder]"],
    ),
    dict(
        id="folders-sixteen-bit-scale",
        quick=True,
        file="sk_kerasbag/folders.py",
        original='image = Image.fromarray((np.asarray(image) // 257).astype(np.uint8), "L")',
        replacement='image = Image.fromarray((np.asarray(image) // 256).astype(np.uint8), "L")',
        description="16-bit pixels scaled by 256 instead of 257",
        tests=[T + "test_directory.py::test_sixteen_bit_images_are_scaled_not_clipped"],
    ),
    dict(
        id="folders-cache-budget",
        quick=True,
        file="sk_kerasbag/folders.py",
        original="if self._cached_bytes + image.nbytes > self.cache_bytes:",
        replacement="if self._cached_bytes + image.nbytes >= self.cache_bytes:",
        description="the image cache stops one image short of its budget (> became >=)",
        tests=[T + "test_directory.py::test_decoded_images_are_cached_up_to_the_budget"],
    ),
    dict(
        id="folders-32-bit-mode",
        file="sk_kerasbag/folders.py",
        original='if image.mode in ("I", "F"):',
        replacement='if image.mode in ("I",):',
        description="32-bit float images are no longer refused from the header",
        tests=[T + "test_directory.py::test_a_32_bit_image_is_refused_before_training_naming_it"],
    ),
    dict(
        id="dir-save-dir-inside",
        file="sk_kerasbag/_files.py",
        original="return Path(path).resolve().is_relative_to(Path(folder).resolve())",
        replacement="return Path(path).resolve() == Path(folder).resolve()",
        description="a save_dir below the training folder is no longer refused",
        tests=[
            T + "test_directory.py::"
            "test_save_dir_inside_the_training_folder_is_refused_before_writing[runs]"
        ],
    ),
    dict(
        id="dir-image-size-zero",
        quick=True,
        file="sk_kerasbag/directory.py",
        original=(
            "and all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in size)"
        ),
        replacement=(
            "and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 0 for v in size)"
        ),
        description="image_size with a zero side is accepted (> became >=)",
        tests=[T + "test_directory.py::test_input_errors"],
    ),
    dict(
        id="dir-y-with-folder",
        file="sk_kerasbag/directory.py",
        original="if y is not None:",
        replacement="if y is None:",
        description="the y-with-a-folder check is inverted",
        tests=[T + "test_directory.py::test_input_errors"],
    ),
    dict(
        id="dir-constraints-subspaces",
        quick=True,
        file="sk_kerasbag/directory.py",
        original='if name not in ("max_features", "bootstrap_features")',
        replacement='if name not in ("max_features",)',
        description="the folder bagger's constraints keep bootstrap_features, not a parameter of it",
        tests=[
            T + "test_directory.py::"
            "test_parameter_constraints_name_exactly_the_parameters[DirectoryBaggedClassifier]"
        ],
    ),
]


# One-line bugs the tests did NOT catch when this list was made (kept as information:
# ``--survivors`` runs them, and each is expected to SURVIVE the tests named).
SURVIVORS: list[dict] = [
    dict(
        id="cb-loss-direction",
        file="sk_kerasbag/_callbacks.py",
        original='if base == "loss":',
        replacement='if base == "val_loss":',
        description="'loss' no longer short-circuits to lower-is-better (compares the stripped name)",
        tests=[T + "test_training.py::test_metric_directions_come_from_keras_and_callback_state_leaves_out_configuration"],
    ),
    dict(
        id="persist-occupied-folder",
        file="sk_kerasbag/persistence.py",
        original="if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):",
        replacement="if folder.exists() and not folder.is_dir():",
        description="save no longer refuses a non-empty folder",
        tests=[T + "test_persistence.py::test_save_refuses_what_only_pickle_can_store"],
    ),
    dict(
        id="dir-check-readable-skipped",
        file="sk_kerasbag/directory.py",
        original="files.check_readable()",
        replacement="pass",
        description="image headers are not checked before training",
        tests=[T + "test_directory.py::test_corrupt_image_is_named"],
    ),
    dict(
        id="split-max-samples-truncated",
        file="sk_kerasbag/_splitting.py",
        original="n_draw = max(1, int(round(max_samples * n_samples)))",
        replacement="n_draw = max(1, int(max_samples * n_samples))",
        description="a fractional max_samples is truncated instead of rounded",
        tests=[T + "test_estimators.py::test_bagging_without_replacement_draws_distinct_rows"],
    ),
    dict(
        id="split-bootstrap-last-row",
        file="sk_kerasbag/_splitting.py",
        original="train_idx = member_rng.randint(0, n_samples, n_draw)",
        replacement="train_idx = member_rng.randint(0, n_samples - 1, n_draw)",
        description="bootstrap samples never draw the last row (exclusive bound minus one)",
        tests=[T + "test_estimators.py::test_bagging_samples_and_oob"],
    ),
    dict(
        id="split-feature-stream",
        file="sk_kerasbag/_random.py",
        original="return np.random.RandomState([seed, COLUMNS])",
        replacement="return np.random.RandomState(seed)",
        # Equivalent in all that a test can see since bagging rows come from a seed of
        # their own (warm start): RandomState(seed) is then used only by the member's
        # validation rows, a separate generator, so columns and those rows share
        # numbers but change nothing of each other. Kept to show the stream's reason.
        description="columns drawn from the member seed's main stream, not a stream of their own",
        tests=[T + "test_subspaces.py::test_columns_change_neither_the_rows_nor_a_repeat_fit"],
    ),
    dict(
        id="split-validation-rows-kept",
        file="sk_kerasbag/_splitting.py",
        original="return train_idx[~np.isin(train_idx, val_idx)], val_idx",
        replacement="return train_idx, val_idx",
        description="validation_split rows stay in the member's training rows",
        tests=[T + "test_estimators.py::test_oof_is_honest_by_default_and_old_behaviour_is_opt_in"],
    ),
    dict(
        id="member-callback-order",
        file="sk_kerasbag/_members.py",
        original="callbacks = [*user_callbacks, TrackProgress(progress, user_callbacks)]",
        replacement="callbacks = [TrackProgress(progress, user_callbacks), *user_callbacks]",
        description="the member's record runs before the user's callbacks, not after",
        tests=[T + "test_training.py::test_a_users_early_stopping_still_works_and_is_reported"],
    ),
    dict(
        id="stack-prefit-unequal-folds",
        file="sk_kerasbag/_out_of_fold.py",
        original=(
            "if times_held_out.min() == 0 or times_held_out.min() != times_held_out.max():"
        ),
        replacement="if times_held_out.min() == 0:",
        description='cv="prefit" accepts folds that hold rows out unequally often',
        tests=[
            T + "test_folds.py::test_prefit_stacking_refuses_folds_that_hold_rows_out_unequally",
            T + "test_stacking.py::test_prefit_needs_folds_that_partition_the_rows",
        ],
    ),
    dict(
        id="folders-hidden-subfolders",
        file="sk_kerasbag/folders.py",
        original=(
            'subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]'
        ),
        replacement=(
            'subdirectories = [name for name in subdirectories if not name.startswith(".")]'
        ),
        description="hidden sub-folders are still walked (list rebound, not changed in place)",
        tests=[T + "test_directory.py::test_list_images_order_labels_and_filtering"],
    ),
]


# -- machinery -----------------------------------------------------------------------


class MutationError(Exception):
    """The mutation cannot be applied as written (its line is gone, repeated or invalid)."""


def locate(text: str, original: str) -> int:
    """Index of the one line of ``text`` whose stripped text is ``original``."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == original.strip()]
    if len(hits) != 1:
        what = "not found" if not hits else f"found {len(hits)} times"
        raise MutationError(f"original line {what}: {original.strip()!r}")
    return hits[0]


def mutated_text(text: str, mutation: dict) -> tuple[str, int]:
    """The file's text with the mutation applied, and the 1-based line number it changed."""
    lines = text.splitlines(keepends=True)
    i = locate(text, mutation["original"])
    line = lines[i]
    indent = line[: len(line) - len(line.lstrip())]
    ending = line[len(line.rstrip("\r\n")) :]
    lines[i] = indent + mutation["replacement"].strip() + ending
    new = "".join(lines)
    if new == text:
        raise MutationError("the replacement equals the original")
    try:
        compile(new, mutation["file"], "exec")
    except SyntaxError as error:
        raise MutationError(f"the mutated file does not compile: {error}") from None
    return new, i + 1


def environment(repo: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo)
    env["KERAS_BACKEND"] = "tensorflow"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def run_pytest(repo: Path, args: list[str], timeout: float) -> tuple[int | None, str, float]:
    """pytest's exit status (None on timeout), its output and the seconds it took."""
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=repo,
        env=environment(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        rc = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        rc = None
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return rc, output, time.monotonic() - start


def check_unmutated(repo: Path, mutations: list[dict], timeout: float) -> bool:
    """Run every catching test once on the unmutated code; report the ones that fail."""
    node_ids = list(dict.fromkeys(t for m in mutations for t in m["tests"]))
    print(f"Unmutated run of the {len(node_ids)} catching tests ...", flush=True)
    args = ["-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "-rfE", *node_ids]
    rc, output, seconds = run_pytest(repo, args, timeout * 4)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    print(f"  {last}  ({seconds:.0f} s)")
    if rc == 0:
        return True
    print(f"  UNMUTATED RUN FAILED (pytest exit status {rc}); its failures:")
    failed = [line for line in output.splitlines() if re.match(r"(FAILED|ERROR) ", line)]
    for line in failed or output.splitlines()[-40:]:
        print("    " + line)
    return False


def run_mutation(repo: Path, mutation: dict, timeout: float, verbose: bool) -> dict:
    path = repo / mutation["file"]
    original = path.read_bytes()
    result = dict(mutation, line="?", status="ERROR", seconds=0.0, note="")
    try:
        new, line = mutated_text(original.decode(), mutation)
        result["line"] = line
    except MutationError as error:
        result["note"] = str(error)
        return result
    try:
        path.write_bytes(new.encode())
        rc, output, seconds = run_pytest(repo, [*PYTEST, *mutation["tests"]], timeout)
    finally:
        path.write_bytes(original)
        if path.read_bytes() != original:  # never leave a mutant behind
            raise SystemExit(f"FATAL: could not restore {path}")
    result["seconds"] = seconds
    if rc == 1:
        result["status"] = "CAUGHT"
    elif rc == 0:
        result["status"] = "SURVIVED"
    else:
        result["note"] = "timeout" if rc is None else f"pytest exit status {rc}"
    if verbose or result["status"] == "ERROR":
        tail = "\n".join(output.strip().splitlines()[-15:])
        print("    | " + tail.replace("\n", "\n    | "))
    return result


def print_table(results: list[dict]) -> None:
    rows = [
        (
            r["id"],
            f"{r['file'].removeprefix('sk_kerasbag/')}:{r['line']}",
            r["description"],
            " ".join(t.removeprefix("tests/") for t in r["tests"]),
            r["status"] + (f" ({r['note']})" if r["note"] else ""),
            f"{r['seconds']:.1f}",
        )
        for r in results
    ]
    header = ("id", "file:line", "description", "catching test", "result", "seconds")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, type=Path, help="checkout to mutate")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    parser.add_argument(
        "--quick", action="store_true", help="only the mutations marked quick (4 per area)"
    )
    parser.add_argument(
        "--survivors", action="store_true", help="run the SURVIVORS list (expected to survive)"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="no unmutated run first")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    options = parser.parse_args()
    repo = options.repo.resolve()

    everything = MUTATIONS + SURVIVORS
    ids = [m["id"] for m in everything]
    assert len(ids) == len(set(ids)), "mutation ids must be unique"
    mutations = SURVIVORS if options.survivors else MUTATIONS
    if options.quick:
        mutations = [m for m in mutations if m.get("quick")]
    if options.only:
        unknown = set(options.only) - set(ids)
        if unknown:
            parser.error(f"unknown mutation id(s): {', '.join(sorted(unknown))}")
        mutations = [m for m in everything if m["id"] in options.only]
    if options.list:
        for m in mutations:
            print(f"{m['id']:36} {m['file']:28} {m['description']}")
        return 0

    # A SIGTERM runs the finally blocks too, so the file being mutated is restored.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    started = time.monotonic()
    print(f"Mutating {repo} with {sys.executable}", flush=True)
    baseline_ok = True
    if not options.skip_baseline:
        baseline_ok = check_unmutated(repo, mutations, options.timeout)
    results = []
    for n, mutation in enumerate(mutations, 1):
        print(f"[{n}/{len(mutations)}] {mutation['id']} ...", flush=True)
        result = run_mutation(repo, mutation, options.timeout, options.verbose)
        print(f"    {result['status']} {result['note']} ({result['seconds']:.1f} s)", flush=True)
        results.append(result)

    print()
    print_table(results)
    counts = {s: sum(r["status"] == s for r in results) for s in ("CAUGHT", "SURVIVED", "ERROR")}
    baseline = "not run" if options.skip_baseline else "pass" if baseline_ok else "FAIL"
    print()
    print(
        f"{counts['CAUGHT']} caught, {counts['SURVIVED']} survived, {counts['ERROR']} errors, "
        f"of {len(results)} mutations; catching tests on unmutated code: {baseline}; "
        f"total {time.monotonic() - started:.0f} s"
    )
    return 0 if baseline_ok and counts["CAUGHT"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
