"""Spoken instructions (``fusiongym.envs.speech``): the voices of each split, deterministic eSpeak NG synthesis, the
fixed-size log-mel spectrogram, the caches, and that importing the package loads none of the speech libraries.

The synthesis tests need the ``speech`` extra (espeakng-loader, librosa) and are skipped without it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest

from fusiongym.envs.speech import FRAMES, LOG_FLOOR_DB, N_MELS, VOICES, Voice, draw_voice

TEXT = "go to the red ball"
# longer than the spectrogram's 5.12 s at the slowest voice, so it is cropped
LONG_TEXT = ("put the remedy for the burn in the basket and then walk over to the purple key "
             "behind the locked door and pick it up")


@pytest.fixture(scope="module")
def speech() -> ModuleType:  # the module, once the optional libraries are known to be there
    pytest.importorskip("espeakng_loader")
    pytest.importorskip("librosa")
    from fusiongym.envs import speech

    return speech


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# --- voices and splits: no TTS needed ------------------------------------------------------------------------------

def test_train_and_test_voices_are_disjoint_in_variant_rate_and_pitch() -> None:
    train, test = VOICES["train"], VOICES["test"]
    assert train and test and len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    for field in ("variant", "rate", "pitch"):
        assert not {getattr(v, field) for v in train} & {getattr(v, field) for v in test}, field


def test_draw_voice_is_seeded_and_stays_in_its_split() -> None:
    for split in ("train", "test"):
        drawn = [draw_voice(np.random.default_rng(7), split) for _ in range(2)]
        assert drawn[0] == drawn[1] and drawn[0] in VOICES[split]
        rng = np.random.default_rng(0)
        assert {draw_voice(rng, split) for _ in range(500)} == set(VOICES[split])
    with pytest.raises(ValueError, match=r"unknown split 'val': choose one of \('train', 'test'\)"):
        draw_voice(np.random.default_rng(0), "val")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 20}, "rate=20 is out of range: give an int from 80 to 450"),
    ({"pitch": 100}, "pitch=100 is out of range: give an int from 0 to 99"),
    ({"pitch_range": -1}, "pitch_range=-1 is out of range"),
    ({"rate": 150.5}, "rate=150.5 is out of range: give an int"),
])
def test_a_bad_voice_parameter_names_the_range(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Voice("m1", **kwargs)


def test_a_variant_with_a_language_in_it_is_refused() -> None:
    with pytest.raises(ValueError, match="give one such as 'm1'"):
        Voice("en-us+m1")


def test_importing_the_package_loads_no_speech_library() -> None:
    code = ("import sys, fusiongym.envs, fusiongym.envs.speech\n"
            "print(sorted(m for m in ('librosa', 'numba', 'espeakng_loader', 'soundfile', 'torch', 'torchaudio')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


# --- synthesis and spectrogram: the speech extra -----------------------------------------------------------------

def test_every_voice_speaks(speech: ModuleType) -> None:
    for voice in VOICES["train"][::4] + VOICES["test"][::6]:
        waveform, sample_rate = speech.synthesize(TEXT, voice)
        assert sample_rate == 22050 and waveform.dtype == np.float32 and waveform.ndim == 1
        assert 0.5 < waveform.size / sample_rate < 3.0  # about a second and a half of speech
        assert np.abs(waveform).max() <= 1.0 and np.abs(waveform).max() > 0.1


def test_synthesis_is_deterministic_whatever_was_spoken_before(speech: ModuleType) -> None:
    voice, other = VOICES["train"][0], VOICES["test"][-1]
    uncached = speech.synthesize.__wrapped__  # the engine itself, past the cache
    first, _ = uncached(TEXT, voice)
    uncached(LONG_TEXT, other)  # eSpeak NG keeps state between utterances: it must not leak into the next one
    second, _ = uncached(TEXT, voice)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(speech.synthesize(TEXT, voice)[0], first)


def test_synthesis_and_spectrogram_are_identical_in_a_fresh_process(speech: ModuleType) -> None:
    voice = VOICES["test"][0]
    code = ("import hashlib, numpy as np\n"
            "from fusiongym.envs.speech import Voice, synthesize, spoken_instruction\n"
            f"voice = Voice(**{voice.__dict__!r})\n"
            f"print(hashlib.sha256(synthesize({TEXT!r}, voice)[0].tobytes()).hexdigest())\n"
            f"print(hashlib.sha256(spoken_instruction({TEXT!r}, voice).tobytes()).hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    wave_digest, spectrogram_digest = out.stdout.split()
    assert wave_digest == _digest(speech.synthesize(TEXT, voice)[0])
    assert spectrogram_digest == _digest(speech.spoken_instruction(TEXT, voice))


def test_different_voices_give_different_audio(speech: ModuleType) -> None:
    base = Voice("m1", rate=140, pitch=40)
    variants = [base, Voice("f1", rate=140, pitch=40), Voice("m1", rate=180, pitch=40), Voice("m1", rate=140, pitch=60),
                Voice("m1", rate=140, pitch=40, pitch_range=10)]
    digests = {_digest(speech.synthesize(TEXT, v)[0]) for v in variants}
    assert len(digests) == len(variants)
    slow, fast = speech.synthesize(TEXT, base)[0], speech.synthesize(TEXT, variants[2])[0]
    assert fast.size < 0.9 * slow.size
    assert not np.array_equal(speech.spoken_instruction(TEXT, base), speech.spoken_instruction(TEXT, variants[1]))


def test_the_spectrogram_has_one_size_for_short_and_long_speech(speech: ModuleType) -> None:
    slowest = min(VOICES["test"], key=lambda v: v.rate)
    for text in ("go", TEXT, LONG_TEXT, ""):
        spectrogram = speech.spoken_instruction(text, slowest)
        assert spectrogram.shape == (N_MELS, FRAMES) and spectrogram.dtype == np.float32
        assert spectrogram.min() >= LOG_FLOOR_DB and np.isfinite(spectrogram).all()
    short = speech.spoken_instruction(TEXT, slowest)
    assert (short[:, -1] == LOG_FLOOR_DB).all() and (short[:, : FRAMES // 8] > LOG_FLOOR_DB).any()  # padded
    long = speech.spoken_instruction(LONG_TEXT, slowest)
    assert speech.synthesize(LONG_TEXT, slowest)[0].size / 22050 > FRAMES * speech.HOP_SECONDS  # so it was cropped
    assert (long[:, -8:] > LOG_FLOOR_DB).any()  # still speaking in the last frames
    assert speech.spoken_instruction(TEXT, slowest, n_mels=64, frames=100).shape == (64, 100)


def test_log_mel_takes_any_waveform(speech: ModuleType) -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    spectrogram = speech.log_mel(tone, 16000, n_mels=20, frames=30)
    assert spectrogram.shape == (20, 30) and spectrogram.max() > 0
    assert (speech.log_mel(np.zeros(0, np.float32), 22050) == LOG_FLOOR_DB).all()  # nothing to say: all floor
    with pytest.raises(ValueError, match="mono waveform"):
        speech.log_mel(np.zeros((2, 100), np.float32), 22050)
    with pytest.raises(ValueError, match="frames >= 1"):
        speech.log_mel(tone, 16000, frames=0)


def test_an_unknown_voice_names_the_fix(speech: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"no voice variant 'm99': choose one of \[.*'f1'.*'m1'"):
        speech.synthesize(TEXT, Voice("m99"))
    with pytest.raises(ValueError, match="no language 'xx-nowhere': give one of its languages such as 'en-us'"):
        speech.synthesize(TEXT, Voice("m1", language="xx-nowhere"))
    with pytest.raises(TypeError, match="must be a fusiongym.envs.speech.Voice"):
        speech.synthesize(TEXT, "en-us+m1")


def test_the_caches_return_the_same_read_only_arrays(speech: ModuleType) -> None:
    voice = VOICES["train"][3]
    spectrogram = speech.spoken_instruction(TEXT, voice)
    assert speech.spoken_instruction(TEXT, voice) is spectrogram
    assert speech.synthesize(TEXT, voice)[0] is speech.synthesize(TEXT, voice)[0]
    assert not spectrogram.flags.writeable and not speech.synthesize(TEXT, voice)[0].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        spectrogram[0, 0] = 0.0
