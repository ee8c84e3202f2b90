"""Experiments described in one TOML file: ``sk-kerasbag run experiment.toml``.

The file holds every parameter of a run: the model builder (by reference) and
its parameters, the estimator and its parameters, the data, and what to
write. A ``[[schedule]]`` list runs several parameter sets one after the other
and prints a comparison table. The whole file, the builder and the data are
checked before any training starts; a mistake raises :class:`ExperimentError`
naming the key at fault, such as ``estimator.params.n_estimatorz: not a
parameter of BaggedKerasClassifier``.

Example
-------
.. code-block:: toml

    [model]
    builder = "my_models:small_cnn"     # "module:function"; my_models.py may sit next to this file
    params = { filters = 16 }           # builder arguments, routed as model__filters = 16

    [estimator]
    class = "BaggedKerasClassifier"     # a public sk_kerasbag estimator
    params = { n_estimators = 3, epochs = 5, oob_score = true, random_state = 0 }

    [data]
    source = "digits"                   # the bundled 8x8 digits images, no download
    test_size = 0.25

    [output]
    dir = "runs/exp1"                   # run <name> writes into runs/exp1/<name>
    predictions = true
    oof = true

    [[schedule]]                        # optional: one run per table
    name = "small"
    params = { epochs = 3, model__filters = 8 }

    [[schedule]]
    name = "large"
    params = { epochs = 3, model__filters = 32 }

Keys (relative paths are relative to the TOML file's folder)
------------------------------------------------------------
``[model]``
    ``builder`` (required): ``"module:function"``, imported with the TOML
    file's folder first on ``sys.path``. ``params``: builder arguments,
    checked against its signature.
``[estimator]``
    ``class`` (required): ``BaggedKerasClassifier``, ``KFoldKerasRegressor``,
    ``DirectoryBaggedClassifier``, ... ``params``: its parameters, names from
    its ``get_params()`` (also ``model__<name>``), values checked by its own
    parameter constraints.
``[data]``
    ``source`` (required) is one of:

    * ``"digits"``: ``test_size`` (default 0.25; a stratified split),
      ``n_samples`` (use only the first images, for a quick trial) and
      ``random_state`` of the split (default: the estimator's int
      ``random_state``, else 0).
    * ``"npz"``: ``path`` (required) of a ``.npz`` file; ``X_train``,
      ``y_train``, ``X_test``, ``y_test`` name its arrays (defaults: those
      names; the test arrays are optional).
    * ``"folder"``: ``train`` (required), a folder with one sub-folder per
      class, and ``test`` (optional), scored when its images are in class
      sub-folders too. Needs a ``Directory*`` estimator.
``[output]`` (optional: without it nothing is written)
    ``dir`` (required); ``predictions`` (default true): test predictions
    (``predict_proba`` of classifiers, ``predict`` of regressors);
    ``oof`` (default false): out-of-fold predictions of the training rows,
    the K-fold estimators' own, the bagged estimators' out-of-bag ones with
    ``oob_score = true``, else cross-fitted with :func:`~sk_kerasbag.oof_predict`
    and ``oof_cv`` folds (default 5); ``format``: ``"npy"`` (default) or
    ``"csv"``; ``artifacts`` (default false): the estimator's ``save_dir``
    set to ``<dir>/<name>/artifacts``. Run
    ``<name>`` writes ``<dir>/<name>/test_predictions.npy``,
    ``oof_predictions.npy`` (NaN for rows no member held out) and, for
    folder data, ``test_files.txt`` (the image of each prediction row).
``[[schedule]]``
    ``name`` (required; letters, digits, ``.``, ``_``, ``-``) and ``params``
    overriding ``estimator.params`` for that run. Keys name a schedule
    entry by its index from 0: ``schedule[1].params.epochz``. Without a
    schedule, the single run is named after the TOML file.
"""

# The package, each module reading or doing one thing: _toml (a TOML table's
# typed look-ups and ExperimentError), _sources (the [data] sources), _schema
# (the whole file checked into an Experiment), _runner (the runs, their scores,
# the files they write and the comparison table).
from ._runner import run_experiment
from ._schema import Experiment, Run, load_experiment
from ._toml import ExperimentError

__all__ = ["Experiment", "ExperimentError", "Run", "load_experiment", "run_experiment"]
