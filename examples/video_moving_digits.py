"""A ConvLSTM that predicts the next frame of digits moving in 32x32 frames.

    python examples/video_moving_digits.py [steps]   (default 150: a few minutes of one core)

Prints the next-frame MSE on unseen clips against copying the previous frame and a
blank frame, and writes the predicted vs true frames to video_strip.png.
"""

import sys

import torch

import lstmkit
from lstmkit.video.clips import eval_clips
from lstmkit.video.plot import prediction_strip

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 150
vp = lstmkit.VideoPredictor(frame_size=32, hidden_channels=16, kernel_size=5, max_steps=steps).fit()
r = vp.evaluate(n_clips=128)
print(f"next-frame MSE {r['mse']:.5f}, copying the last frame {r['copy_last_mse']:.5f} (ratio {r['ratio']:.3f}), "
      f"a blank frame {r['blank_mse']:.5f} (ratio {r['ratio_to_blank']:.3f})")
clips, _ = eval_clips(vp.config, 3)
print(f"the next 3 frames of 3 test clips from their first 5: {tuple(vp.predict(clips[:, :5], steps=3).shape)}")
prediction_strip(vp.model, clips, "video_strip.png", context=5)
print("wrote video_strip.png")
