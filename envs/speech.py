"""Spoken instructions: an instruction's text read by a real text-to-speech engine, as a fixed-size log-mel spectrogram.

The engine is `eSpeak NG <https://github.com/espeak-ng/espeak-ng>`_, the library and its voice data as the
``espeakng-loader`` wheel bundles them (no system package, no network). This module calls the library's C API
through :mod:`ctypes`: the Python packages that wrap eSpeak NG either only phonemize or run a system ``espeak-ng``
program. The spectrogram is librosa's. Both are optional (the ``speech`` extra) and imported only when speech is
first rendered, so that ``import fusiongym.envs`` stays fast and needs neither.

Splits: :data:`VOICES` holds the speakers of each split; the test split's voice variants, speaking rates and
pitches all differ from the training split's (as held-out paraphrase templates do for text).

Determinism: the same (text, :class:`Voice`) gives a bit-identical waveform in every call and every process.
eSpeak NG keeps state from one utterance to the next in its globals (its pitch flutter, its noise generator), so
each synthesis loads a fresh instance of the library, initialises it, speaks, and unloads it (about 5 ms); the
library is loaded from a private copy, made once per process, so that no other user of ``espeakng-loader`` in
the process (phonemizer, kokoro …) shares that state (phonemizer does the same).

    >>> from fusiongym.envs.speech import VOICES, spoken_instruction
    >>> spoken_instruction("go to the red ball", VOICES["train"][0]).shape
    (40, 256)
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from fusiongym.envs.language import SPLITS

#: The mel spectrogram's frame hop and analysis window, in seconds (librosa rounds them to samples).
HOP_SECONDS = 0.02
WINDOW_SECONDS = 0.025
#: Spectrogram defaults: 256 frames of 20 ms hold 5.12 s of speech, about 14 words at the slowest voice (120 wpm).
N_MELS = 40
FRAMES = 256
#: The highest mel band's upper edge in Hz (the speech band; capped at the Nyquist frequency).
F_MAX = 8000.0
#: The spectrogram's floor in dB: silence, and the padding after the speech ends.
LOG_FLOOR_DB = -80.0

_INSTALL = "pip install 'fusiongym[speech]'"


@dataclass(frozen=True)
class Voice:
    """One speaker: an eSpeak NG voice variant, language, speaking rate and pitch.

    Attributes:
        variant: an eSpeak NG voice variant, one of the files in its ``espeak-ng-data/voices/!v`` (``m1`` …
            ``m7`` and ``f1`` … ``f5`` are plain male and female speakers): it sets the formants, breathiness and
            intonation of the speaker.
        rate: speaking rate in words per minute, 80 to 450.
        pitch: base pitch, 0 to 99 (50 is the variant's own).
        pitch_range: how far the pitch moves, 0 (monotone) to 99; 50 is the variant's own.
        language: the eSpeak NG language, which sets pronunciation and accent.
    """

    variant: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    language: str = "en-us"

    def __post_init__(self) -> None:
        for name, low, high in (("rate", 80, 450), ("pitch", 0, 99), ("pitch_range", 0, 99)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"Voice {name}={value!r} is out of range: give an int from {low} to {high}")
        if not self.variant or "+" in self.variant or os.sep in self.variant:
            raise ValueError(f"Voice variant {self.variant!r} is not a variant name: give one such as 'm1' or 'f2'")

    @property
    def espeak_name(self) -> str:
        """The name eSpeak NG selects this voice by (``en-us+m1``)."""
        return f"{self.language}+{self.variant}"


def _voices(variants: tuple[str, ...], rates: tuple[int, ...], pitches: tuple[int, ...]) -> tuple[Voice, ...]:
    return tuple(Voice(v, rate=r, pitch=p) for v in variants for r in rates for p in pitches)


#: The speakers of each split: every combination of a split's variants, rates and pitches. The test split's
#: variants are other speakers, and its rates and pitches lie outside and between the training ones, so no test
#: voice shares any of the three with a training voice.
VOICES: dict[str, tuple[Voice, ...]] = {
    "train": _voices(("m1", "m3", "m5", "f1", "f3"), rates=(140, 180), pitches=(40, 60)),
    "test": _voices(("m2", "m4", "f2", "f4"), rates=(120, 160, 200), pitches=(30, 50, 70)),
}


def draw_voice(rng: np.random.Generator, split: str) -> Voice:
    """A voice of ``split`` drawn uniformly with ``rng`` (the env's ``np_random``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {SPLITS}")
    voices = VOICES[split]
    return voices[int(rng.integers(len(voices)))]


# --- eSpeak NG through ctypes: the few calls and constants of its speak_lib.h that synthesis needs ---------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: speak into the callback, return when done
_INITIALIZE_DONT_EXIT = 0x8000  # report a data error instead of exiting the process
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER
_EE_OK = 0
# int callback(short *wav, int numsamples, espeak_EVENT *events): wav is NULL once synthesis is complete
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()  # one synthesis at a time: the library's state is process-global


@functools.lru_cache(maxsize=1)
def _espeak_files() -> tuple[str, str]:
    """A private copy of the bundled libespeak-ng (made once per process, removed at exit) and its data folder."""
    try:
        import espeakng_loader
    except ImportError:
        raise ImportError(f"spoken instructions need eSpeak NG from the 'speech' extra: {_INSTALL}") from None
    folder = tempfile.mkdtemp(prefix="fusiongym-espeak-")
    owner = os.getpid()

    def remove() -> None:  # by the process that made it, not by a forked worker that exits through Python
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    library = shutil.copy(espeakng_loader.get_library_path(), folder)
    try:
        _unload(ctypes.CDLL(library, mode=ctypes.RTLD_LOCAL)._handle)
    except OSError:  # a temporary folder mounted noexec: share the bundled file (and its state, if anyone holds it)
        library = espeakng_loader.get_library_path()
    return library, espeakng_loader.get_data_path()


def _unload(handle: int) -> None:
    import _ctypes

    if sys.platform == "win32":
        _ctypes.FreeLibrary(handle)
    else:
        _ctypes.dlclose(handle)


def _speak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """``text`` spoken by ``voice`` with a freshly loaded eSpeak NG: its int16 samples and sample rate."""
    library, data = _espeak_files()
    if not os.path.isfile(os.path.join(data, "voices", "!v", voice.variant)):
        variants = sorted(os.listdir(os.path.join(data, "voices", "!v")))
        raise ValueError(f"eSpeak NG has no voice variant {voice.variant!r}: choose one of {variants}")
    chunks: list[bytes] = []

    def collect(wav: ctypes._Pointer[ctypes.c_short], n: int, events: int | None) -> int:
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0  # go on

    callback = _SynthCallback(collect)
    with _LOCK:
        lib = ctypes.CDLL(library, mode=ctypes.RTLD_LOCAL)
        sample_rate = 0
        try:
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                         ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
            sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT)
            if sample_rate <= 0:
                raise RuntimeError(f"eSpeak NG could not start with its data at {data}: reinstall it ({_INSTALL})")
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.espeak_name.encode()) != _EE_OK:
                raise ValueError(f"eSpeak NG has no language {voice.language!r}: give one of its languages such as "
                                 f"'en-us', 'en' or 'en-gb-scotland' (the files under {os.path.join(data, 'lang')})")
            for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range)):
                lib.espeak_SetParameter(parameter, value, 0)
            encoded = text.encode()
            status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != _EE_OK:
                raise RuntimeError(f"eSpeak NG failed to speak {text!r} (status {status})")
            lib.espeak_Synchronize()
        finally:
            if sample_rate > 0:
                lib.espeak_Terminate()  # frees what it loaded; unloading alone would leak it
            _unload(lib._handle)
    return np.frombuffer(b"".join(chunks), dtype=np.int16), int(sample_rate)


@functools.lru_cache(maxsize=128)
def synthesize(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """``text`` read aloud by ``voice``: a float32 mono waveform in [-1, 1] and its sample rate (22050 Hz).

    Deterministic: the same text and voice give the identical waveform in every call and process. Cached (the 128
    most recent); the waveform is read-only, as the cache shares it.
    """
    if not isinstance(voice, Voice):
        raise TypeError(f"voice must be a fusiongym.envs.speech.Voice, not {type(voice).__name__}: e.g. Voice('m1')")
    samples, sample_rate = _speak(text, voice)
    waveform = samples.astype(np.float32) / np.float32(32768.0)
    waveform.flags.writeable = False
    return waveform, sample_rate


def log_mel(waveform: np.ndarray, sample_rate: int, n_mels: int = N_MELS, frames: int = FRAMES) -> np.ndarray:
    """A log-mel spectrogram of fixed size: float32 ``(n_mels, frames)``, in dB, floored at :data:`LOG_FLOOR_DB`.

    Frames are :data:`HOP_SECONDS` (20 ms) apart with :data:`WINDOW_SECONDS` (25 ms) windows, and the mel bands
    span 0 Hz to :data:`F_MAX` (computed with librosa). Shorter audio is padded at the end with the floor; longer
    audio is cropped at the end, so speech past ``frames * HOP_SECONDS`` seconds (5.12 s by default, about 14 words
    at the slowest voice) is lost.
    """
    if n_mels < 1 or frames < 1:
        raise ValueError(f"log_mel needs n_mels >= 1 and frames >= 1, got n_mels={n_mels}, frames={frames}")
    try:
        import librosa
    except ImportError:
        raise ImportError(f"spoken instructions need librosa from the 'speech' extra: {_INSTALL}") from None
    hop_length = round(HOP_SECONDS * sample_rate)
    win_length = round(WINDOW_SECONDS * sample_rate)
    n_fft = 1 << (win_length - 1).bit_length()  # the next power of two
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"log_mel takes a mono waveform (one axis), got shape {y.shape}: average the channels first")
    y = np.pad(y, (0, max(0, n_fft - y.size)))  # at least one window of samples (silence after a very short clip)
    power = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length,
                                           win_length=win_length, n_mels=n_mels, fmax=min(F_MAX, sample_rate / 2))
    db = np.maximum(librosa.power_to_db(power, ref=1.0, amin=10.0 ** (LOG_FLOOR_DB / 10), top_db=None), LOG_FLOOR_DB)
    out = np.full((n_mels, frames), LOG_FLOOR_DB, dtype=np.float32)
    kept = min(frames, db.shape[1])
    out[:, :kept] = db[:, :kept]
    return out


@functools.lru_cache(maxsize=1024)
def spoken_instruction(text: str, voice: Voice, n_mels: int = N_MELS, frames: int = FRAMES) -> np.ndarray:
    """``text`` read aloud by ``voice`` as a :func:`log_mel` spectrogram ``(n_mels, frames)``, float32.

    Cached (the 1024 most recent, about 40 KB each at the defaults); the array is read-only, as the cache shares it.
    """
    spectrogram = log_mel(*synthesize(text, voice), n_mels=n_mels, frames=frames)
    spectrogram.flags.writeable = False
    return spectrogram
