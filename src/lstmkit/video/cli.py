"""``lstmkit video``: ConvLSTM models on moving 8x8 digits (offline Moving-MNIST stand-in).

    lstmkit video predict  [--max-steps 500] [--strip strip.png] [--out video-predict-model]
    lstmkit video classify [--max-steps 300] [--out video-classify-model]
    lstmkit video evaluate --load video-predict-model [--strip strip.png]

``predict`` trains a next-frame predictor on digits bouncing in 32x32 frames and reports
its MSE on the last frame of unseen clips against copying the previous frame.
``classify`` trains a motion-direction classifier (8 compass directions; an
action-recognition stand-in) and reports its accuracy. Test clips use digit images never
seen in training.
"""

from __future__ import annotations

import argparse

from lstmkit.errors import TrainingInterrupted
from lstmkit.spine import flags
from lstmkit.spine.cli import save_on_interrupt


def _config(args, task: str):
    from lstmkit.video.network import VideoConfig

    fields = ("frame_size", "frames", "n_digits", "hidden_channels", "num_layers", "kernel_size",
              "batch_size", "lr", "max_steps", "seed", "backend")
    options = {k: getattr(args, k) for k in fields if getattr(args, k, None) is not None}
    if args.max_time:
        options["max_time"] = args.max_time
    return VideoConfig(task=task, **options)


def _report(model, config, args) -> None:
    from lstmkit.video.training import eval_clips, evaluate_classifier, evaluate_predictor

    clips, labels = eval_clips(config, args.eval_clips)
    if config.task == "predict":
        r = evaluate_predictor(model, clips)
        print(f"next-frame MSE on {args.eval_clips} test clips (last frame): {r['mse']:.5f}; "
              f"best baseline ({r['baseline']}): {r['baseline_mse']:.5f} (ratio {r['ratio_to_baseline']:.3f}; "
              f"below 1 beats both baselines)")
        print(f"baselines: copying the previous frame {r['copy_last_mse']:.5f} (ratio {r['ratio']:.3f}), "
              f"a blank frame {r['blank_mse']:.5f}")
        print(f"all steps t>=2: {r['mse_all_steps']:.5f} vs copy-last {r['copy_last_mse_all_steps']:.5f}")
        if args.strip:
            from lstmkit.video.plot import prediction_strip

            prediction_strip(model, clips, args.strip, context=config.frames // 2)
            print(f"strip written to {args.strip}")
    else:
        r = evaluate_classifier(model, clips, labels)
        print(f"direction accuracy on {args.eval_clips} test clips: {r['accuracy']:.4f} (chance {r['chance']:.3f})")


def _train(args, task: str) -> int:
    from lstmkit.video.training import save_video, train_video

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = _config(args, task)
    print(f"video {task}: {config.frame_size}x{config.frame_size} frames, {config.frames} per clip; "
          f"ConvLSTM {config.num_layers}x{config.hidden_channels} channels, kernel {config.kernel_size}; "
          f"{config.max_steps} steps of {config.batch_size} clips", flush=True)
    def save_partial():
        if not args.out or partial.get("run") is None:
            return None
        save_video(partial["run"], args.out)
        return args.out

    partial: dict = {}
    with save_on_interrupt(f"video {task}", save_partial):
        try:
            run = train_video(config, log=lambda r: print(
                f"step {r['step']:6d}  loss {r['loss']:.5f}  time {r['time']:7.1f}s", flush=True))
        except TrainingInterrupted as exc:
            partial["run"] = exc.result
            raise
    _report(run.model, config, args)
    if args.out:
        save_video(run, args.out)
        print(f"saved to {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from lstmkit.video.training import load_video

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_video(args.load)
    _report(model, model.config, args)
    return 0


def _common(p, steps: int) -> None:
    p.add_argument("--max-steps", type=int, default=steps, help=f"training batches ({steps})")
    p.add_argument("--max-time", type=float, default=0.0, help="stop after this many seconds (0: no limit)")
    p.add_argument("--frame-size", type=int, help="frame side in pixels (32)")
    p.add_argument("--frames", type=int, help="frames per clip (10 to predict, 8 to classify)")
    p.add_argument("--hidden-channels", type=int, help="ConvLSTM channels (16)")
    p.add_argument("--num-layers", type=int)
    p.add_argument("--kernel-size", type=int, help="odd convolution size (5)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--backend", choices=("auto", "fused", "reference"))
    p.add_argument("--eval-clips", type=int, default=256, help="test clips (256)")
    p.add_argument("--threads", type=int, help="torch threads")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("video", help="ConvLSTM on moving digits: next frame, motion direction",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pr = sub.add_parser("predict", help="train a next-frame predictor")
    _common(pr, 500)
    pr.add_argument("--n-digits", type=int, help="digits per clip (1)")
    pr.add_argument("--strip", help="write true vs predicted frames to this PNG")
    pr.add_argument("--out", default="video-predict-model", help="where to save ('' to skip)")
    flags.outputs(pr, out="model")
    pr.set_defaults(func=lambda a: _train(a, "predict"), _probe_backend=False)
    cl = sub.add_parser("classify", help="train a motion-direction classifier")
    _common(cl, 300)
    cl.add_argument("--out", default="video-classify-model", help="where to save ('' to skip)")
    flags.outputs(cl, out="model")
    cl.set_defaults(func=lambda a: _train(a, "classify"), strip=None, _probe_backend=False)
    ev = sub.add_parser("evaluate", help="evaluate a saved video model")
    ev.add_argument("--load", required=True)
    ev.add_argument("--eval-clips", type=int, default=256)
    ev.add_argument("--strip", help="(predictors) write true vs predicted frames to this PNG")
    ev.add_argument("--threads", type=int)
    ev.set_defaults(func=evaluate)
