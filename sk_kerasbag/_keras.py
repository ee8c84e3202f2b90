"""Keras, for every module of the package: imported once, without the backend's start-up lines.

Modules write ``from ._keras import keras`` instead of ``import keras``, so
that whichever of them is imported first (by a user, or by a joblib or Dask
worker unpickling a member) goes through :func:`sk_kerasbag._backend.import_keras`.
"""

from ._backend import import_keras

keras = import_keras()
