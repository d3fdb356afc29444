"""Recognise spoken digit strings with a bidirectional LSTM trained with CTC.

    python examples/speech_digits.py       # needs espeak-ng; about 5 minutes of CPU

Synthesises digit strings with espeak-ng (many voices, speeds, pitches, noise), trains
lstmkit's SpeechRecognizer on log-mel features, reports the character error rate on
voices that training never heard, with greedy and beam-search decoding, then
transcribes a WAV file spoken by one of those unseen voices.
"""

import numpy as np
import torch

from lstmkit.speech import CorpusConfig, SpeechRecognizer, make_corpus, synthesize
from lstmkit.speech.audio import add_noise, write_wav
from lstmkit.speech.synth import spoken_digits

torch.set_num_threads(1)

rec = SpeechRecognizer(epochs=10, seed=0)
data = make_corpus(CorpusConfig(n_train=2000, n_test=300), rec.feature_config)  # cached after the first run
print(f"{len(data.train_text)} training utterances, {len(data.test_text)} test utterances by unseen voices")
rec.fit(data.train_features, data.train_text, log=print)

for beam in (0, 8):
    r = rec.evaluate(data.test_features, data.test_text, beam=beam)
    print(f"{'greedy' if beam == 0 else f'beam {beam}'}: CER {r['cer']:.2%}, exact {r['exact']:.2%}")

x, sr = synthesize(spoken_digits("90210"), voice="en-gb-scotland+f4", speed=150)
write_wav("out/90210.wav", add_noise(x, 20.0, np.random.default_rng(0)), sr)
print("out/90210.wav ->", rec.transcribe("out/90210.wav", beam=8))
rec.save("out/speech-model")
