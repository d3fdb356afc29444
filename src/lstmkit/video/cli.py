"""``lstmkit video``: ConvLSTM models on moving 8x8 digits (offline Moving-MNIST stand-in).

    lstmkit video train --task predict  [--max-steps 500] [--strip strip.png] [--out video-predict-model]
    lstmkit video train --task classify [--max-steps 300] [--out video-classify-model]
    lstmkit video evaluate --load MODEL [--eval-clips 256] [--strip strip.png]
    lstmkit video predict  --load MODEL [--data clips.npy | --n-clips 4] [--steps 1] [--context K] [--npy out.npy]

``train --task predict`` trains a next-frame predictor on digits bouncing in 32x32 frames
and reports its MSE on the last frame of unseen clips against copying the previous frame
and against a blank frame. ``train --task classify`` trains a motion-direction classifier
(8 compass directions; an action-recognition stand-in) and reports its accuracy. Test
clips use digit images never seen in training.

Aliases: ``video predict`` WITHOUT ``--load`` is ``video train --task predict`` and
``video classify`` is ``video train --task classify`` (the commands of earlier versions).
``video predict`` WITH ``--load MODEL`` predicts with the saved model instead of training:
the next frames of each clip (a predictor) or its direction (a classifier).
"""

from __future__ import annotations

import argparse

from lstmkit.errors import InputError
from lstmkit.spine import flags
from lstmkit.spine.cli import add_threads_arg, apply_threads, estimator_saver, save_on_interrupt
from lstmkit.spine.train_flags import add_train_flags, engine_kwargs, task_parser

TASKS = ("predict", "classify")
MODEL_FLAGS = ("frame_size", "frames", "n_digits", "hidden_channels", "num_layers", "kernel_size",
               "batch_size", "lr", "backend")
# flags of `video predict --load` that training has no use for, and the reverse
PREDICT_FLAGS = ("steps", "context", "n_clips", "npy")
TRAIN_ONLY = ("max_time", "max_epochs", "max_steps", "accelerator", "devices", "strategy", "num_nodes",
              "precision", "checkpoint_dir", "checkpoint_every", "out", "eval_clips", *MODEL_FLAGS)


def _estimator_class(task: str):
    from lstmkit.video import VideoClassifier, VideoPredictor

    return VideoPredictor if task == "predict" else VideoClassifier


def _print_scores(est, clips, labels, args) -> None:
    n = len(clips)
    if est.TASK == "video-predict":
        r = est.evaluate(clips)
        print(f"next-frame MSE on {n} test clips (last frame): {r['mse']:.5f}; "
              f"best baseline ({r['baseline']}): {r['baseline_mse']:.5f} (ratio {r['ratio_to_baseline']:.3f}; "
              f"below 1 beats both baselines)")
        print(f"baselines: copying the previous frame {r['copy_last_mse']:.5f} (ratio {r['ratio']:.3f}), "
              f"a blank frame {r['blank_mse']:.5f} (ratio {r['ratio_to_blank']:.3f})")
        print(f"all steps t>=2: {r['mse_all_steps']:.5f} vs copy-last {r['copy_last_mse_all_steps']:.5f}")
        if getattr(args, "strip", None):
            from lstmkit.video.plot import prediction_strip

            prediction_strip(est.model, clips, args.strip, context=est.config.frames // 2)
            print(f"strip written to {args.strip}")
    else:
        r = est.evaluate(clips, labels)
        print(f"direction accuracy on {n} test clips: {r['accuracy']:.4f} (chance {r['chance']:.3f})")


def _report(est, args) -> None:
    from lstmkit.video.clips import EVAL_CLIPS, eval_clips

    clips, labels = eval_clips(est.config, args.eval_clips or EVAL_CLIPS)
    _print_scores(est, clips, labels, args)


def _given(args, names) -> list[str]:
    return [n for n in names if getattr(args, n, None) not in (None, False)]


def _train(args: argparse.Namespace, task: str) -> int:
    cmd = f"video {args.action}"
    if getattr(args, "data", None):
        raise InputError("--data: video train generates its clips from --seed; a .npy of clips is read by "
                         "`video predict --load MODEL --data CLIPS.npy`")
    extra = _given(args, PREDICT_FLAGS)
    if extra:
        raise InputError(f"--{extra[0].replace('_', '-')} is a flag of `video predict --load MODEL` "
                         f"(prediction with a saved model); `{cmd}` trains")
    if task == "classify" and getattr(args, "n_digits", None) is not None:
        raise InputError("--n-digits: the direction classifier's clips hold one digit; it applies to --task predict")
    if task == "classify" and args.strip:
        raise InputError("--strip draws a next-frame predictor's frames; it applies to --task predict")
    out = f"video-{task}-model" if args.out is None else args.out
    if out:  # '' skips saving; checked before anything is trained, as every output
        flags.check_output(out, "model", "--out", task=f"video-{task}")
    apply_threads(args)
    options = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    est = _estimator_class(task)(seed=args.seed, **options, **engine_kwargs(args))
    cfg = est.config
    n_clips, plan = est.run_plan()
    steps = est.trainer_kwargs.get("max_steps") or plan.get("max_steps")
    budget = f"{steps} steps of {cfg.batch_size} clips" if steps and steps > 0 else \
        f"{est.trainer_kwargs.get('max_epochs')} passes over {n_clips} clips"
    print(f"video {task}: {cfg.frame_size}x{cfg.frame_size} frames, {cfg.frames} per clip; "
          f"ConvLSTM {cfg.num_layers}x{cfg.hidden_channels} channels, kernel {cfg.kernel_size}; {budget}",
          flush=True)
    with save_on_interrupt(cmd, estimator_saver(est, out)):
        est.fit(resume=args.resume)
    if not est.is_global_zero:  # another process of a DDP run: rank 0 reports and saves
        return 0
    if est.history:
        last = est.history[-1]
        print(f"trained {est.steps} steps in {est.train_time:.0f} s; training loss {last['loss']:.5f} "
              f"at step {last['step']}")
    _report(est, args)
    if out:
        est.save(out)
        print(f"saved to {out}")
    return 0


def _load(path):
    from lstmkit.spine import estimator, io

    task = io.read_config(path)["task"]
    if task not in ("video-predict", "video-classify"):
        raise InputError(f"--load {path}: holds a {task!r} model, not a video one (video-predict, video-classify)")
    return estimator.load(path)


def evaluate(args: argparse.Namespace) -> int:
    """``lstmkit video evaluate``: score the ``--load`` model on the test clips.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    apply_threads(args)
    est = _load(args.load)
    if args.strip and est.TASK != "video-predict":
        raise InputError("--strip draws a next-frame predictor's frames; this model classifies")
    _report(est, args)
    return 0


def _clips_to_predict(est, args):
    """(clips, labels or None, where they came from): --data's .npy, or test clips."""
    import numpy as np

    from lstmkit.video.clips import draw
    from lstmkit.video.estimator import as_clips

    if args.data:
        try:
            with open(args.data, "rb") as f:
                magic = f.read(6)
            if magic != b"\x93NUMPY":  # numpy would call any other file "pickled data"
                raise ValueError(f"it does not start with the .npy header, found {magic[:6]!r}")
            array = np.load(args.data, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file
            raise InputError(f"--data {args.data}: not a .npy array of clips ({str(exc).splitlines()[0]})") from None
        return as_clips(array, f"--data {args.data}"), None, args.data
    n = args.n_clips or 4
    clips, labels = draw(est.config, n, "test", np.random.default_rng(args.seed))
    return clips, labels, f"{n} test clips of unseen digits (seed {args.seed})"


def _save_npy(path, array) -> None:
    import numpy as np

    from lstmkit.spine.io import atomic_write

    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write)
    print(f"written to {path}: shape {tuple(array.shape)}, {array.dtype}")


def _predict(args: argparse.Namespace) -> int:
    """``video predict --load MODEL``: predict with a saved model."""
    import torch.nn.functional as F

    given = _given(args, TRAIN_ONLY) + (["resume"] if args.resume else [])
    if given:
        raise InputError(f"--{given[0].replace('_', '-')} is a training flag; `video predict --load MODEL` "
                         "predicts with the saved model (drop --load to train)")
    apply_threads(args)
    est = _load(args.load)
    clips, labels, source = _clips_to_predict(est, args)
    if est.TASK == "video-classify":
        if args.steps or args.context or args.strip:
            raise InputError("--steps, --context and --strip apply to a next-frame predictor; this model classifies")
        names = est.predict(clips)
        print(f"directions of {source}:")
        for i, name in enumerate(names[:20]):
            truth = f" (true {est.classes_[int(labels[i])]})" if labels is not None else ""
            print(f"  clip {i}: {name}{truth}")
        if len(names) > 20:
            print(f"  ... ({len(names) - 20} more)")
        if labels is not None:
            print(f"accuracy {est.evaluate(clips, labels)['accuracy']:.4f} on {len(names)} clips")
        if args.npy:
            import numpy as np

            _save_npy(args.npy, np.array([est.classes_.index(n) for n in names], dtype=np.int64))
        return 0
    T = clips.shape[1]
    steps = args.steps or 1
    context = args.context or max(1, T - steps)
    if context > T:
        raise InputError(f"--context {context}: the clips have {T} frames")
    frames = est.predict(clips[:, :context], steps)  # (B, steps, 1, S, S)
    print(f"predicted frames {context + 1}-{context + steps} of {source} from their first {context} frames")
    known = min(steps, T - context)
    if known:
        truth = clips[:, context:context + known]
        mse = [F.mse_loss(frames[:, k], truth[:, k]).item() for k in range(known)]
        copy = F.mse_loss(clips[:, context - 1:context].expand_as(truth), truth).item()
        print("MSE against the true frames, per predicted frame: " + ", ".join(f"{m:.5f}" for m in mse)
              + f" (copying frame {context}: {copy:.5f} over those frames)")
    if args.npy:
        _save_npy(args.npy, frames.numpy())
    if args.strip:
        if context >= T:
            raise InputError("--strip needs true frames after the context: give --context below the clip length")
        from lstmkit.video.plot import prediction_strip

        prediction_strip(est.model, clips, args.strip, context=context)
        print(f"strip written to {args.strip}")
    return 0


def _dispatch_predict(args: argparse.Namespace) -> int:
    return _predict(args) if args.load else _train(args, "predict")


def _train_parser(sub, name: str, task: str | None, help: str):
    p = sub.add_parser(name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if task is None:
        p.add_argument("--task", choices=TASKS, default="predict",
                       help="predict: the next frame; classify: the direction of motion (default predict)")
    data_help = ("with --load: a .npy of clips (N, T, S, S) or (N, T, 1, S, S) in [0, 1] to predict "
                 "(default: --n-clips test clips); training generates its clips from --seed") \
        if name == "predict" else "not used: training generates its clips from --seed"
    out_default = {"predict": "video-predict-model", "classify": "video-classify-model"}.get(task)
    add_train_flags(p, out_default=None, data_help=data_help, max_time_default=None, backend=False,
                    out_help="directory for the trained model ('' not to save; default "
                             + (out_default or "video-predict-model, or video-classify-model with --task classify")
                             + ")")
    m = p.add_argument_group("model")
    m.add_argument("--frame-size", type=int, help="frame side in pixels (32)")
    m.add_argument("--frames", type=int, help="frames per clip (10 to predict, 8 to classify)")
    if task != "classify":
        m.add_argument("--n-digits", type=int, help="digits per clip, to predict (1)")
    m.add_argument("--hidden-channels", type=int, help="ConvLSTM channels (16)")
    m.add_argument("--num-layers", type=int, help="ConvLSTM layers (1)")
    m.add_argument("--kernel-size", type=int, help="odd convolution size (5)")
    m.add_argument("--batch-size", type=int, help="clips per step (16)")
    m.add_argument("--lr", type=float, help="Adam's rate at the start, decayed on a cosine to lr/20 (0.01)")
    m.add_argument("--backend", choices=("auto", "fused", "reference"), help="the ConvLSTM's loop (auto = reference)")
    r = p.add_argument_group("report")
    r.add_argument("--eval-clips", type=int, help="test clips scored after training (256)")
    r.add_argument("--strip", help="(predictors) write true vs predicted frames to this PNG")
    flags.outputs(p, out="model")
    p.set_defaults(_probe_backend=False)
    return p


def add_parser(subparsers) -> None:
    """Add ``lstmkit video`` and its commands to ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    _, sub = task_parser(subparsers, "video", "ConvLSTM on moving digits: next frame, motion direction", __doc__)

    tr = _train_parser(sub, "train", None, "train a next-frame predictor or a direction classifier (--task)")
    tr.set_defaults(func=lambda a: _train(a, a.task))

    pr = _train_parser(sub, "predict", "predict",
                       "with --load MODEL: predict with a saved model; without: train a next-frame "
                       "predictor (= train --task predict)")
    g = pr.add_argument_group("prediction with a saved model (with --load)")
    g.add_argument("--load", metavar="MODEL", help="a saved video model: predict with it instead of training")
    g.add_argument("--n-clips", type=int, help="test clips to predict when no --data is given (4)")
    g.add_argument("--steps", type=int, help="frames to predict after the context (1); each fed back in")
    g.add_argument("--context", type=int, help="frames of each clip the prediction starts from "
                                               "(default: the clip's length minus --steps)")
    g.add_argument("--npy", metavar="FILE", help="write the predicted frames (or direction indices) to this .npy")
    flags.outputs(pr, npy="file")
    flags.bounds(pr, steps=(1, None, True), context=(1, None, True), n_clips=(1, None, True))
    pr.set_defaults(func=_dispatch_predict)

    cl = _train_parser(sub, "classify", "classify", "train a motion-direction classifier (= train --task classify)")
    cl.set_defaults(func=lambda a: _train(a, "classify"))

    ev = sub.add_parser("evaluate", help="score a saved video model on the test clips")
    ev.add_argument("--load", required=True, metavar="MODEL")
    ev.add_argument("--eval-clips", type=int, default=256, help="test clips (256)")
    ev.add_argument("--strip", help="(predictors) write true vs predicted frames to this PNG")
    add_threads_arg(ev)
    ev.set_defaults(func=evaluate)
