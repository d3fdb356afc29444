"""A ConvLSTM that predicts the next frame of digits moving in 32x32 frames.

    python examples/video_moving_digits.py [steps]   (default 150: a few minutes of one core)

Prints the next-frame MSE on unseen clips against copying the previous frame, and
writes the predicted vs true frames to video_strip.png.
"""

import sys

import torch

from lstmkit.video.plot import prediction_strip
from lstmkit.video.network import VideoConfig
from lstmkit.video.training import eval_clips, evaluate_predictor, train_video

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 150
config = VideoConfig(task="predict", frame_size=32, hidden_channels=16, kernel_size=5, max_steps=steps)
run = train_video(config, log=lambda r: print(f"step {r['step']:5d}  loss {r['loss']:.4f}  {r['time']:.0f}s"))
clips, _ = eval_clips(config, 128)
r = evaluate_predictor(run.model, clips)
print(f"next-frame MSE {r['mse']:.5f}, copying the last frame {r['copy_last_mse']:.5f} (ratio {r['ratio']:.3f})")
prediction_strip(run.model, clips, "video_strip.png", context=5)
print("wrote video_strip.png")
