"""Small media fixtures built in the test: coloured-scene videos with an espeak-ng voice, and speech audio files."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

RATE = 22_050  # espeak-ng's output rate


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, workdir: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng as float32 samples at 22.05 kHz."""
    out = workdir / f"tts-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(out), text], check=True, capture_output=True)
    with wave.open(str(out)) as handle:
        assert handle.getframerate() == RATE and handle.getnchannels() == 1
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def soundtrack(duration: float, speech: list[tuple[float, str]], workdir: Path) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A mono track of ``duration`` seconds with each text spoken from its start time; returns the spoken spans."""
    track = np.zeros(int(duration * RATE), dtype=np.float32)
    spans = []
    for start, text in speech:
        voice = speak(text, workdir)
        at = int(start * RATE)
        voice = voice[: max(0, len(track) - at)]
        track[at : at + len(voice)] += voice
        spans.append((start, start + len(voice) / RATE))
    return track, spans


def write_video(path: Path, scenes: list[tuple[tuple[int, int, int], float]], audio: np.ndarray | None = None,
                size: tuple[int, int] = (160, 120), fps: int = 10, faststart: bool = False) -> None:
    """An H.264 MP4 of solid-colour scenes, with an AAC track when ``audio`` (22.05 kHz float32) is given."""
    import av

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=RATE, layout="mono") if audio is not None else None
        index = 0
        for colour, seconds in scenes:
            pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            pixels[:] = colour
            pixels[::8, ::8] = 255 - np.array(colour, dtype=np.uint8)  # a little texture, as real pictures have
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                index += 1
                container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            block = 1024
            for offset in range(0, len(audio), block):
                piece = audio[offset : offset + block]
                if len(piece) < block:
                    piece = np.pad(piece, (0, block - len(piece)))
                frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
                frame.sample_rate = RATE
                frame.pts = offset
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))


def write_audio(path: Path, audio: np.ndarray) -> None:
    """``audio`` (22.05 kHz float32) as WAV (by the standard library) or MP3/FLAC/OGG (by PyAV), from the suffix."""
    if path.suffix == ".wav":
        with wave.open(str(path), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(RATE)
            handle.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
        return
    import av

    codec = {".mp3": "libmp3lame", ".flac": "flac", ".ogg": "libopus", ".m4a": "aac"}[path.suffix]
    rate = 48_000 if codec == "libopus" else RATE
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        block = 1152
        for offset in range(0, len(audio), block):
            frame = av.AudioFrame.from_ndarray(audio[None, offset : offset + block].copy(), format="fltp", layout="mono")
            frame.sample_rate = RATE
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
