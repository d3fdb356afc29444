"""The spine: what every task shares, so that no task imports another.

- ``engine/``: the training engine on Lightning (devices, precision, checkpoints,
  resume, progress, early stopping; Fabric for loops that own their state);
- ``estimator``: the contract every task's estimator follows (config, fit, predict,
  evaluate, save, load, export) and ``TASKS``, the task names of saved models;
- ``io``: the saved-model format (config JSON + safetensors), atomic writes;
- ``metrics``: classification metrics (accuracy, confusion matrix, macro F1);
- ``nets``: the recurrent layer of every task's network by cell name (``make_rnn``,
  ``CELLS``); ``pooling``: pooling a layer's outputs over each sequence's true length;
- ``text``: reading UTF-8 text files (the text tasks);
- ``figures``: writing a figure as a PNG (atomically);
- ``train_flags``: the flags every ``<task> train`` takes; ``flags``: every command-line
  flag checked in one place, before anything runs;
  ``cli``: what the task commands share when they run (Ctrl-C saving, threads, notes).

Each task lives in its own folder (``forecasting``, ``textgen``, ``classify``,
``sequences``, ``speech``, ``seq2seq``, ``video``, ``experiments``) with its network, its
estimator, its data handling and its ``cli`` module, and imports only the core and the
spine.
"""
