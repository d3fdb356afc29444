"""The contract every task's estimator keeps, and the table of tasks.

An estimator (``Forecaster``, ``TextGenerator``, ``TextClassifier``,
``SequenceClassifier``, ``SpeechRecognizer``, ``Translator``, ``VideoPredictor``,
``VideoClassifier``) is built from keywords: the fields of its config dataclass (checked
by the dataclass, ``seed`` among them), Lightning's settings for the engine
(``accelerator``, ``devices``, ``strategy``, ``num_nodes``, ``precision``, ``max_time``,
``max_steps``, ``checkpoint_dir``, ``verbose``, ...; kept apart, never saved with the
model) and, for tasks whose network is an lstmkit recurrent layer, the layer's options
(``backend``, ``layer_norm``, ...). Anything else is refused at once, naming the closest
valid keyword. Then:

- ``fit(...)`` trains through :func:`lstmkit.spine.engine.fit_module` (``resume=True``
  continues from ``checkpoint_dir``) and returns the estimator;
- ``predict(...)`` and ``evaluate(...) -> dict``;
- ``save(dir)`` writes the one saved-model format of :mod:`lstmkit.spine.io` (config,
  preprocessing state, weights); ``Estimator.load(dir)`` is its inverse;
- ``export(path)`` writes ONNX through the estimator's :meth:`Estimator.export_spec`.

A task adds itself to :data:`TASKS` (task name -> ``module:Class``), which is how
``lstmkit export --load DIR`` and :func:`load` find the class of a saved model.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any, ClassVar

from lstmkit.errors import InputError, layer_option_names

# task name (as saved in config.json) -> the estimator class, imported on first use
TASKS: dict[str, str] = {
    "forecast": "lstmkit.forecasting:Forecaster",
    "textgen": "lstmkit.textgen:TextGenerator",
    "classify": "lstmkit.classify:TextClassifier",
    "classify-series": "lstmkit.sequences:SequenceClassifier",
    "speech": "lstmkit.speech:SpeechRecognizer",
    "seq2seq": "lstmkit.seq2seq:Translator",
    "video-predict": "lstmkit.video:VideoPredictor",
    "video-classify": "lstmkit.video:VideoClassifier",
}


def estimator_class(task: str) -> type:
    """The estimator class of a task name, as written in a saved model's config.json.

    Args:
        task: a key of :data:`TASKS` (``"forecast"``, ``"classify"``...).

    Returns:
        The class, imported on first use.

    Raises:
        InputError: no task of that name.

    Example:
        >>> estimator_class("classify").__name__
        'TextClassifier'
    """
    if task not in TASKS:
        raise InputError(f"no lstmkit task is called {task!r}; known: {', '.join(sorted(TASKS))}")
    module, name = TASKS[task].split(":")
    return getattr(importlib.import_module(module), name)


def load(path: str | os.PathLike, **trainer_kwargs) -> Estimator:
    """Any saved model, as the estimator of its task.

    Args:
        path: a directory written by an estimator's ``save``.
        **trainer_kwargs: the engine's settings for further training or prediction
            (``accelerator``...).

    Returns:
        The estimator of the task named in the model's ``config.json``, loaded.

    Raises:
        InputError: not a saved lstmkit model, an unknown task, or config and weights
            that disagree.
    """
    from lstmkit.spine import io

    task = io.read_config(path)["task"]
    return estimator_class(task).load(path, **trainer_kwargs)


class Estimator:
    """Base of the task estimators (module docstring). A subclass sets ``TASK`` and
    ``Config`` and implements ``fit``, ``predict``, ``evaluate`` and the hooks
    ``_network()`` (the trained ``nn.Module`` or None), ``_state()`` (JSON-able
    preprocessing state: vocabulary, scaling, classes) and ``_restore(state)`` (rebuilds
    the untrained network and preprocessing from the config and that state), and
    ``export_spec()`` for ONNX.

    Args:
        **kwargs: the fields of the subclass's ``Config`` (``seed`` among them), the
            engine's settings (``accelerator``, ``devices``, ``strategy``,
            ``num_nodes``, ``precision``, ``max_time``, ``max_steps``, ``max_epochs``,
            ``checkpoint_dir``, ``verbose``...; kept in ``trainer_kwargs``, never saved)
            and, where ``LAYER_OPTIONS`` is set, the recurrent layer's options
            (``backend``, ``layer_norm``...; kept in ``config.layer_options``).

    Raises:
        InputError: a keyword that is none of these (naming the closest valid one), or
            a field the config refuses.
    """

    TASK: ClassVar[str] = ""
    Config: ClassVar[type] = object
    LAYER_OPTIONS: ClassVar[bool] = False  # unknown keywords join config.layer_options
    #: what a model saved before a config field existed meant by it (field -> value), for
    #: fields whose default is not that meaning
    SAVED_DEFAULTS: ClassVar[dict] = {}

    def __init__(self, **kwargs: Any) -> None:
        from lstmkit.spine.engine import split_keywords

        own = {f.name for f in dataclasses.fields(self.Config) if f.init}
        extra = layer_option_names() if self.LAYER_OPTIONS else ()
        mine, self.trainer_kwargs = split_keywords(kwargs, own, type(self).__name__, extra)
        if self.LAYER_OPTIONS:
            options = dict(mine.pop("layer_options", None) or {"backend": "auto"})
            options.update({k: mine.pop(k) for k in list(mine) if k not in own})
            mine["layer_options"] = options
        self.config = self.Config(**mine)
        self.history: list[dict] = []
        self.resumed_from: dict | None = None

    # ---- what a subclass provides -------------------------------------------------------
    def _network(self):
        raise NotImplementedError

    def _state(self) -> dict:
        return {}

    def _restore(self, state: dict) -> None:
        raise NotImplementedError

    def export_spec(self):
        """The :class:`~lstmkit.export.tasks.ExportSpec` that :meth:`export` writes as ONNX
        (a subclass provides it)."""
        raise NotImplementedError(f"{type(self).__name__} has no ONNX export")

    # ---- shared -------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The config's seed."""
        return self.config.seed

    def _require_fitted(self) -> None:
        if self._network() is None:
            raise InputError(f"this {type(self).__name__} is not trained: call fit(...) or "
                             f"{type(self).__name__}.load(dir) first")

    def _engine_kwargs(self, **defaults) -> dict:
        """The engine's settings for a fit: the task's ``defaults`` under the user's."""
        return {**defaults, **self.trainer_kwargs}

    def _train(self, module, data, *, has_val: bool, resume: bool, fingerprint: dict, engine: dict,
               rows=None):
        """Run :func:`~lstmkit.spine.engine.fit_module` on ``module`` (a ``TaskModule``):
        its trained network becomes ``self.model`` (in eval mode, on the CPU) and the
        engine's rows (``rows``, an :class:`~lstmkit.spine.engine.EpochRows` that may pass
        each row to a ``log``, or a new one) become ``self.history``; on Ctrl-C too, where
        the exception then carries this estimator (``exc.result``) so a caller can save
        it. Returns the engine's outcome."""
        from lstmkit.errors import TrainingInterrupted
        from lstmkit.spine.engine import EpochRows, fit_module

        rows = EpochRows() if rows is None else rows

        def keep() -> None:
            self.model = module.net.cpu().eval()
            self.history = [dict(r) for r in rows.rows]

        try:
            outcome = fit_module(module, data, seed=self.config.seed, has_val=has_val, resume=resume,
                                 fingerprint=fingerprint, history=rows, **engine)
        except TrainingInterrupted as exc:  # keep what was learned, usable and savable
            keep()
            exc.result = self
            raise
        keep()
        self.resumed_from, self.is_global_zero = outcome.resumed_from, outcome.is_global_zero
        return outcome

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained estimator to the directory ``path`` (atomically; see
        :mod:`lstmkit.spine.io`).

        Args:
            path: the model directory (created, or replaced whole).

        Returns:
            The directory written.

        Raises:
            InputError: the estimator is not trained.
        """
        from lstmkit.spine import io

        self._require_fitted()
        state = {**self._state(), "history": self.history}
        return io.save_model(path, self.TASK, dataclasses.asdict(self.config),
                             dict(self._network().state_dict()), state)

    @classmethod
    def load(cls, path: str | os.PathLike, **trainer_kwargs: Any):
        """An estimator saved by :meth:`save` (the config checked against the weights).

        Args:
            path: the model directory.
            **trainer_kwargs: the engine's settings for further training or prediction
                devices (not saved with the model).

        Returns:
            The estimator, trained and in eval mode.

        Raises:
            InputError: not a saved model of this task, or config and weights that
                disagree.
        """
        from lstmkit.spine import io

        config, tensors, state, _ = io.load_model(path, cls.TASK)
        self = cls(**{**cls.SAVED_DEFAULTS, **config}, **trainer_kwargs)
        self.history = list(state.pop("history", []) or [])
        self._restore(state)
        net = self._network()
        io.load_weights(net, tensors, path)
        net.eval()
        return self

    def export(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write the trained network as an ONNX model (see :meth:`export_spec` for what
        the graph takes and returns; the preprocessing state travels in its metadata).

        Args:
            path: the ``.onnx`` file to write.
            **options: for :func:`lstmkit.export.to_onnx` (``recurrent``...).

        Returns:
            The path written.

        Raises:
            InputError: the estimator is not trained.
        """
        from lstmkit.export.api import to_onnx

        self._require_fitted()
        return to_onnx(self, path, **options)
