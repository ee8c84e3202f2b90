"""Parameter descriptions shared by the public estimators' docstrings.

Each public class (and the families' ``fit``) writes ``{name}`` in its
numpydoc ``Parameters`` section for a parameter described here, so one
description serves all the estimators.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

# The K-fold parameters, ``stratify`` (which means one thing for classifiers,
# another for regressors) left to fill in.
_KFOLD = """n_splits : int, default=5
        Number of folds per repeat.
    n_repeats : int, default=1
        Rounds of K-fold, each shuffled anew (scikit-learn's
        ``RepeatedStratifiedKFold``): ``n_splits * n_repeats`` members, round
        after round in ``folds_``, every row held out once per round and its
        out-of-fold prediction the mean over its rounds. More rounds give a
        less noisy out-of-fold score; round ``r``'s folds do not depend on
        ``n_repeats``. Needs ``shuffle=True`` when above 1.
    shuffle : bool, default=True
        Shuffle rows before folding (seeded by ``random_state``).
    {stratify}
    cv : int, cross-validation generator or iterable, default=None
        Any scikit-learn splitter; overrides ``n_splits``, ``n_repeats``,
        ``shuffle`` and ``stratify`` (``n_repeats`` must then be 1: pass a
        repeated splitter instead). Group splitters get ``groups`` from ``fit``."""

PARAMETERS = {
    # The data parameters of ``fit`` (a method's docstring: indented one level more).
    "fit_data": """X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training rows: a 2-D table (also a DataFrame) or N-D arrays such as
            images of shape (n_samples, height, width, channels). Directory
            estimators take a folder with one sub-folder per class, or image paths.
        y : array-like of shape (n_samples,), (n_samples, n_classes) or (n_samples, n_outputs)
            Targets (None only for folder data, whose classes are its sub-folders).
            Classifiers of arrays take class labels, or an indicator matrix of
            0/1 columns: with exactly one 1 per row it is one-hot, its columns
            the classes (``predict`` gives one-hot rows back); otherwise it is
            multilabel, each column a label of its own, learned by one sigmoid
            unit per label with ``binary_crossentropy`` (``predict`` gives an
            indicator matrix). Directory estimators take one label per image.
            Regressors take one column per output.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights passed to Keras's loss.
        validation_data : tuple, default=None
            ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``, used by
            every member as its validation data instead of ``validation_split``.""",
    "model": """model : callable
        Function that builds and returns a compiled ``keras.Model``; called
        once per member, so every member starts from fresh weights. If its
        signature names ``input_shape``, ``n_classes`` and ``target_kind``
        (classifiers: ``"labels"``, ``"onehot"`` or ``"multilabel"``) or
        ``n_outputs`` (regressors), those are filled from the data at fit.
        Classifiers declare multilabel support (scikit-learn's
        ``multi_label`` tag) when the builder takes ``target_kind``.""",
    "bagging": """n_estimators : int, default=5
        Number of members.
    max_samples : int or float, default=1.0
        Rows drawn per member: a count, or a fraction of the training rows.
    bootstrap : bool, default=True
        Draw rows with replacement; ``False`` draws a subset without.
    oob_score : bool, default=False
        Score each row with the members that did not train on it.""",
    "subspaces": """max_features : int or float, default=1.0
        Columns drawn per member (random subspaces, scikit-learn's
        ``BaggingClassifier``): a count, or a fraction of the columns. Each
        member trains and predicts on its own columns (``estimators_features_``),
        and the builder's ``input_shape`` is ``(n_drawn,)``. For 2-D ``X``
        only; members taking column subsets train one by one, not packed.
    bootstrap_features : bool, default=False
        Draw columns with replacement; ``False`` draws a subset without.""",
    "kfold": _KFOLD.format(
        stratify="""stratify : bool, default=True
        Keep class proportions equal across folds (of the classes of a
        one-hot ``y`` too). A multilabel ``y`` has no one class per row to
        stratify: its folds are plain shuffled K-fold folds
        (``KFold``, with the same ``shuffle`` and ``random_state``)."""
    ),
    "kfold_regression": _KFOLD.format(
        stratify="""stratify : bool, default=False
        Fold the target's quantile bins as classes (``n_samples // n_splits``
        bins, AutoGluon's count, of equal sizes by rank: ties split in row
        order), so that every fold sees the whole range of the target. A
        single target column only."""
    ),
    "epochs": """epochs : int, default=10
        Training epochs per member.""",
    "batch_size": """batch_size : int or None, default=32
        Mini-batch size for training (``None``: Keras's default of 32).""",
    "callbacks": """callbacks : list, default=None
        Keras callbacks for every member. A ``keras.callbacks.Callback`` is
        deep-copied for each member, so no state (such as an
        ``EarlyStopping`` best score) leaks between members; the copies,
        not the object given, see the events. A function ``f(k)`` returning
        a callback (or a list of them) for member ``k`` (as in
        ``estimators_[k]``) is called once per member instead, so its
        callbacks can share your logger, queue, lock or progress bar and
        observe every member (with ``n_jobs``, in the worker processes).
        A callback that cannot be copied is refused before training, naming it.
        Early stopping is built in (``patience``); a user's
        ``EarlyStopping`` works too on one-by-one training.""",
    "validation_split": """validation_split : float in [0, 1), default=0.0
        Share of each member's distinct training rows held out as its
        validation data: it picks the best epoch and drives ``patience``.
        Ignored when ``fit`` gets ``validation_data``.""",
    "validate_on_heldout": """validate_on_heldout : bool, default=False
        Use each member's held-out rows (out-of-bag or out-of-fold) as its
        validation data. This reproduces the old keraspipelines behaviour but
        makes the held-out predictions and score optimistic, since the best
        epoch (``restore_best_weights``), ``patience`` and callbacks are
        then chosen on those rows; the default keeps them honest.""",
    "early_stopping": """patience : int or None, default=None
        Stop a member once its ``monitor`` value has not improved for
        ``patience`` epochs (each member on its own, in every strategy; as
        in Keras, 0 and 1 both stop at the first epoch without improvement);
        None trains every member for ``epochs``.
    monitor : str, default="val_loss"
        The history key that decides a member's best epoch and early
        stopping, such as ``"val_loss"`` or ``"val_accuracy"``. Larger or
        smaller is better as the compiled Keras metric declares (as
        Keras's ``EarlyStopping`` decides); for a name it cannot find,
        larger for accuracy, AUC, precision, recall, F-scores, R^2, IoU and
        correlations, smaller for anything else. A member without validation data watches the
        training value (``"val_loss"`` becomes ``"loss"``). A key that is
        not in the history is an error at the end of the first epoch.
    restore_best_weights : bool, default=True
        A member with validation data ends with the weights of its best
        epoch by ``monitor``, and predicts (and is saved) with them; one
        without validation data keeps its last epoch. ``False`` keeps the
        last epoch always. ``fit_statistics_`` names the held epoch and
        reports its metrics.""",
    "augmentation": """augmentation : dict, generator object or None, default=None
        Image augmentation. A dict of ``ImageDataGenerator``-style settings
        (the user guide's "Augmentation and TTA" page lists the supported
        ones), applied with vectorised NumPy on every backend; or any object
        with an ``ImageDataGenerator`` style
        ``.flow(X, y, batch_size=, shuffle=, seed=)`` method, such as
        ``keras.src.legacy.preprocessing.image.ImageDataGenerator``.
        Deterministic preprocessing (``rescale``, featurewise statistics,
        fitted on each member's training rows) is applied to every input a
        member sees and is fixed at fit (``preprocessing_``); random
        transforms only to training batches and TTA passes. Each member
        draws its own reproducible random stream. The random settings are
        read again at predict time for TTA.""",
    "tta": """tta : int, default=0
        Test-time augmentation: each member's prediction is the mean of its
        clean pass and ``tta`` augmented passes (probabilities averaged, so
        rows still sum to 1; row ``i`` always describes input ``i``; with a
        dict, or an object with ``random_transform``, an image's transforms
        are seeded by its content, not its position).
        Read at predict time, so ``set_params(tta=5)`` on a fitted estimator
        changes its predictions without refitting. Held-out predictions made
        during ``fit`` use the value set at fit.""",
    "class_weight": """class_weight : dict, "balanced" or None, default=None
        Weights per class label, multiplied into ``sample_weight``.
        ``"balanced"`` weights classes inversely to their frequency in ``y``.
        For a one-hot ``y`` the classes are its column numbers; a multilabel
        ``y`` takes no ``class_weight`` (weight its rows with ``sample_weight``).""",
    "random_state": """random_state : int, RandomState instance or None, default=None
        Controls the row splits and, through one seed per member, weight
        initialisation, dropout and shuffling. An int gives the same
        predictions on every run on the CPU.""",
    "verbose": """verbose : int, default=0
        0 is silent; 1 shows a progress bar over members (with each one's
        latest validation score) and prints ``summary()`` after fit;
        2 also shows Keras's per-epoch output. Problems the caller should act
        on are ``UserWarning``s (``warnings.warn``); notes about the run (a
        packing fallback, rows no bootstrap sample left out) go to the
        ``"sk_kerasbag"`` logger.""",
    "n_jobs": """n_jobs : int or None, default=None
        Members trained in parallel worker processes through joblib
        (``None``: one at a time; ``-1``: all cores). Results equal a
        sequential fit with the same ``random_state``. Under
        ``joblib.parallel_config(backend="dask")`` members run on a Dask cluster.
        Random seeds are process-wide, so members given to threads of one
        process (joblib's threading backend, a Dask worker's threads) train
        one at a time, with the same results.""",
    "strategy": """strategy : {"sequential", "packed", "auto"}, default="sequential"
        How members train. ``"sequential"``: one model at a time (in
        parallel processes with ``n_jobs``). ``"packed"``: all members at
        once, in one training loop; several times faster for small models.
        Under JAX, with rows in memory and no random augmentation, packed
        members share one traced and compiled train step, each member
        stepping on batches of its own rows, with its own dropout stream:
        mapped over the members' stacked weights and optimizer states
        (``jax.vmap``, *vectorised*), or, for convolutional models on the
        CPU, where that measured slower, taken by each member in turn
        (*interleaved*). Otherwise (TensorFlow, folder data, random
        augmentation, a model the mapping cannot express) they train as the
        outputs of one Keras model on a shared input, each member's rows
        given as per-output sample weights; random augmentations are then
        drawn once per batch for all members, and under TensorFlow plain
        Adam runs as TensorFlow's fused kernel (the same update, quicker to
        trace). The log says why, and ``fit_strategy_`` which way ran.
        Either way each member keeps its own best epoch and stops early on
        its own, by the same rule as one-by-one training; a stopped member
        no longer changes, and the fit ends when the last member stops.
        With ``save_dir`` the packed state is checkpointed after every
        epoch, so ``resume`` continues it. Not possible with ``callbacks``
        or featurewise / generator-object augmentations: the members then
        train one after another, with a warning. ``"auto"``: ``"packed"``
        when the members can share one compiled step (JAX, rows in memory,
        no random augmentation, no ``callbacks``), else ``"sequential"``
        (with ``n_jobs``).""",
    "artifacts": """save_dir : str, path-like or None, default=None
        Folder of this fit's artifacts: each member's model as a ``.keras``
        file (the one the ensemble predicts with, at its held epoch), its
        history as CSV, ``statistics.csv`` and
        ``params.json``. Members are checkpointed after every epoch. Every
        file is written atomically. The folder must be new or empty, or hold
        this same run with ``resume=True``; nothing else in it is touched.
        For folder data it must lie outside the training image folder.
        With ``save_dir``, sk_kerasbag (not Keras) shuffles in-memory rows,
        as a function of member seed and epoch, so that a resumed member
        replays its remaining epochs exactly; a fit with ``save_dir`` hence
        differs (equally valid) from one without.
    resume : bool, default=False
        Continue the run in ``save_dir`` (for example after the process was
        killed): finished members are reloaded from their files, the member
        in training continues from its last finished epoch (weights,
        optimizer, dropout, shuffling, best-epoch and callback state
        restored; a packed fit continues all its members), the rest
        train; the result equals an uninterrupted fit's. Refused when the
        parameters or data differ from the run's, or while another process
        uses the run.""",
    "warm_start": """warm_start : bool, default=False
        With a fitted ensemble, ``fit`` keeps its members and trains only
        the ones a larger ``n_estimators`` (bagging) or ``n_repeats``
        (K-fold) adds, as scikit-learn's ``BaggingClassifier`` does; held-out
        predictions and ``fit_statistics_`` then cover every member, and
        ``fit_strategy_`` says how the new ones trained. Member ``k``'s rows
        and seed do not depend on the member count, so with an integer
        ``random_state`` the grown ensemble equals a cold fit with the larger
        count, member for member (members trained packed, by
        ``strategy="packed"`` or ``"auto"``, share batches with those packed
        beside them, so new ones then differ from a cold packed fit's). Change
        only the count and pass the same data: a fit that would split the
        fitted members' rows otherwise is refused, as is a smaller count; the
        same count warns and trains nothing. With ``save_dir`` (that of the
        fitted members' run), the new members join that run.""",
    "model_params": """**model_params
        Keyword arguments ``model__<name>=value`` routed to the builder as
        ``<name>=value``. They are ordinary parameters: ``get_params``
        lists them and ``GridSearchCV`` can search them.""",
    "preprocessing": """preprocessing_ : list
        Per member, the deterministic preprocessing of ``augmentation`` as
        fitted on its training rows (``rescale``, featurewise ``mean`` and
        ``std``, ...); applied to every input the member predicts.""",
    "image_data": """image_size : (int, int), default=(256, 256)
        ``(height, width)`` every image is resized to (bilinearly) when read.
    color_mode : {"rgb", "grayscale", "rgba"}, default="rgb"
        Channels of the images given to the model (3, 1 or 4).
    rescale : float or None, default=None
        Factor applied to the 0-255 pixel values when read, such as ``1 / 255``.
    workers : int, default=1
        Threads reading (decoding and resizing) the images of a batch.
    cache_mb : float, default=64
        Per member, decoded training images (8-bit) kept in memory up to
        this many MB, so later epochs do not decode them again; images
        beyond it are decoded every epoch. 0 disables the cache.""",
    "fitted_members": """estimators_ : list of keras.Model
        The fitted members.
    histories_ : list of dict
        Per member, each metric's per-epoch values.
    fit_statistics_ : dict of ndarray
        Per member (one value each): ``member``, ``epochs`` run,
        ``best_epoch`` (by ``monitor``), ``held_epoch`` (whose weights the
        member holds and predicts with), every metric of its history at the
        held epoch and training ``seconds`` (epochs count from 1); a
        ``pandas.DataFrame(fit_statistics_)`` away from a table.
        ``summary()`` formats it with the mean, std, min and max.
    fit_strategy_ : {"sequential", "vectorised", "interleaved", "multi-output"}
        How the members trained: one by one, or packed (sharing one compiled
        step, mapped over them or taken by each in turn, or as one
        multi-output model where that was not possible); see ``strategy``.
    input_shape_ : tuple
        Shape of one input row seen during fit.""",
    "fitted": """{fitted_members}
    n_features_in_ : int
        Number of features (size of axis 1) seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` was a DataFrame with string column names.""",
}


PARAMETERS["fitted"] = PARAMETERS["fitted"].format(**PARAMETERS)


def fill_doc(obj: T) -> T:
    """Substitute the shared parameter descriptions into ``obj.__doc__``."""
    obj.__doc__ = obj.__doc__.format(**PARAMETERS)
    return obj
