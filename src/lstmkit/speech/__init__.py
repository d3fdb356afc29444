"""CTC speech recognition: spoken digit strings synthesised with espeak-ng, log-mel
features (torch.stft and an HTK mel filterbank), a bidirectional LSTM acoustic model
trained with CTC, greedy and beam-search decoding, and the character error rate.

- :class:`SpeechRecognizer`: fit / transcribe / evaluate / save / load.
- :func:`make_corpus`, :class:`CorpusConfig`: the synthetic data, split by voice.
- :func:`log_mel`, :class:`FeatureConfig`: the front end.
- :func:`greedy_decode`, :func:`beam_search_decode`, :func:`character_error_rate`.
- :func:`espeak_path`: None when espeak-ng is missing (synthesis then raises InputError).
"""

from lstmkit.speech.corpus import Corpus, CorpusConfig, make_corpus
from lstmkit.speech.decode import beam_search_decode, character_error_rate, greedy_decode
from lstmkit.speech.features import FeatureConfig, log_mel, mel_filterbank
from lstmkit.speech.recognizer import SpeechRecognizer, SpeechRecognizerConfig
from lstmkit.speech.synth import espeak_path, synthesize

__all__ = [
    "Corpus",
    "CorpusConfig",
    "FeatureConfig",
    "SpeechRecognizer",
    "SpeechRecognizerConfig",
    "beam_search_decode",
    "character_error_rate",
    "espeak_path",
    "greedy_decode",
    "log_mel",
    "make_corpus",
    "mel_filterbank",
    "synthesize",
]
