"""Reproducible long-video benchmark: real photos held as shots, some narrated by espeak-ng, with ground-truth spans.

Each video is a sequence of shots; a shot shows one Flickr8k photo (scaled to fit 640x480, H.264 at 25 fps) for a random
time. About half the shots (``--narrated``) carry spoken narration of one caption of that photo, made by Debian's
``espeak-ng``; the query for every shot is a *different* caption of the same photo, so neither the visual nor the
speech signal sees the query's own words. The manifest (JSON) lists every shot with its span, photo, query and
narration; everything follows from ``--seed``.

Photos are split in two halves by a hash of their file name: ``--split dev`` (used to choose parameters) and
``--split test`` (reported). Silent shots last log-uniform 3–30 s (a long tail exercises moment splitting and
merging); narrated shots last lead-in 0.2–0.8 s + the narration + 0.5–3 s.

    .venv/bin/python benchmarks/moments/generate.py --data ../shared/eval/flickr8k --out scratch/moments/bench-test --split test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import subprocess
import wave
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT, FPS = 640, 480, 25
AUDIO_RATE = 22_050  # espeak-ng's native rate
VOICES = ("en-us", "en", "en-gb-x-rp")


def split_of(image_name: str) -> str:
    """dev or test, by a stable hash of the photo's file name."""
    return "dev" if hashlib.sha1(image_name.encode()).digest()[0] % 2 == 0 else "test"


def speak(text: str, voice: str, speed: int, cache: Path) -> np.ndarray:
    key = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    path = cache / f"{key}.wav"
    if not path.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as handle:
        if handle.getframerate() != AUDIO_RATE:
            raise RuntimeError(f"espeak-ng wrote {handle.getframerate()} Hz, expected {AUDIO_RATE}")
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def letterbox(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = min(WIDTH / image.width, HEIGHT / image.height)  # fill the frame, as a slideshow would
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", (WIDTH, HEIGHT))
        canvas.paste(image, ((WIDTH - image.width) // 2, (HEIGHT - image.height) // 2))
        return np.asarray(canvas)


def plan_shots(photos: list[dict], rng: random.Random, narrated: float) -> list[dict]:
    shots = []
    for photo in photos:
        captions = photo["captions"]
        order = rng.sample(range(len(captions)), len(captions))
        shot = {"image": photo["image"], "query": captions[order[0]], "narration": None}
        if rng.random() < narrated:
            shot["narration"] = captions[order[1]]
            shot["voice"] = rng.choice(VOICES)
            shot["speed"] = rng.randint(150, 185)
            shot["lead"] = round(rng.uniform(0.2, 0.8), 2)
            shot["tail"] = round(rng.uniform(0.5, 3.0), 2)
        else:
            shot["duration"] = round(math.exp(rng.uniform(math.log(3.0), math.log(30.0))), 2)
        shots.append(shot)
    return shots


class VideoWriter:
    """Streams shots into one MP4 (H.264 + AAC): a photo's frame is built once and repeated."""

    def __init__(self, path: Path) -> None:
        import av

        self.av = av
        self.container = av.open(str(path), "w")
        self.video = self.container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        self.video.width, self.video.height, self.video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        self.audio = self.container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        self.frames = 0
        self.samples = 0

    @property
    def time(self) -> float:
        return self.frames / FPS

    def shot(self, pixels: np.ndarray, seconds: float, sound: np.ndarray) -> None:
        """Hold ``pixels`` until the video clock reaches ``time + seconds``; ``sound`` fills the same stretch."""
        end_frame = round((self.time + seconds) * FPS)
        frame = self.av.VideoFrame.from_ndarray(pixels, format="rgb24")
        while self.frames < end_frame:
            frame.pts = self.frames
            self.frames += 1
            for packet in self.video.encode(frame):
                self.container.mux(packet)
        # the sound track follows the video clock exactly, so speech never drifts into the next shot
        wanted = round(self.frames / FPS * AUDIO_RATE) - self.samples
        track = np.zeros(max(0, wanted), dtype=np.float32)
        track[: min(len(sound), len(track))] = sound[: len(track)]
        self._audio(track)

    def _audio(self, track: np.ndarray, block: int = 1024) -> None:
        for offset in range(0, len(track), block):
            piece = track[offset: offset + block]
            frame = self.av.AudioFrame.from_ndarray(piece[None, :].copy(), format="fltp", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.samples
            self.samples += len(piece)
            for packet in self.audio.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        for stream in (self.video, self.audio):
            for packet in stream.encode(None):
                self.container.mux(packet)
        self.container.close()


def write_video(path: Path, shots: list[dict], images: Path, tts: Path) -> float:
    """Encode ``shots`` into ``path``, filling in each shot's start/end and narration span; returns the duration."""
    writer = VideoWriter(path)
    try:
        for shot in shots:
            start = writer.time
            sound = np.zeros(0, dtype=np.float32)
            if shot["narration"]:
                voice = speak(shot["narration"], shot["voice"], shot["speed"], tts)
                lead = int(shot["lead"] * AUDIO_RATE)
                sound = np.concatenate([np.zeros(lead, np.float32), voice])
                seconds = shot["lead"] + len(voice) / AUDIO_RATE + shot["tail"]
                shot["narration_span"] = [round(start + shot["lead"], 3), round(start + len(sound) / AUDIO_RATE, 3)]
            else:
                seconds = shot["duration"]
            writer.shot(letterbox(images / shot["image"]), seconds, sound)
            shot["start"], shot["end"] = round(start, 3), round(writer.time, 3)
            shot.pop("duration", None)
    finally:
        writer.close()
    return writer.time


def generate(data: Path, out: Path, split: str = "test", seed: int = 0, minutes: float = 5.0,
             narrated: float = 0.5, limit: int | None = None, repeat: int = 1, max_videos: int | None = None) -> dict:
    """Write videos and ``manifest.json`` into ``out``; an existing manifest with the same parameters is reused."""
    params = {"data": str(Path(data).resolve()), "split": split, "seed": seed, "minutes": minutes, "narrated": narrated,
              "limit": limit, "repeat": repeat, "max_videos": max_videos, "size": [WIDTH, HEIGHT], "fps": FPS, "version": 2}
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("params") == params and all((out / v["file"]).exists() for v in manifest["videos"]):
            return manifest
    out.mkdir(parents=True, exist_ok=True)
    tts = out / "tts"
    tts.mkdir(exist_ok=True)
    photos = [p for p in json.loads((data / "captions.json").read_text()) if split in ("all", split_of(p["image"]))]
    photos.sort(key=lambda p: p["image"])
    rng = random.Random(seed)
    rng.shuffle(photos)
    photos = (photos[:limit] if limit else photos) * repeat
    shots = plan_shots(photos, rng, narrated)
    videos, current, budget = [], [], minutes * 60
    for shot in shots:  # group by planned length (narrated shots counted at a typical 6 s)
        current.append(shot)
        if sum(s.get("duration", 6.0) for s in current) >= budget:
            videos.append(current)
            current = []
    if current:
        videos.append(current)
    videos = videos[:max_videos] if max_videos else videos
    entries = []
    for number, video_shots in enumerate(videos):
        name = f"{split}-{number:02d}.mp4"
        duration = write_video(out / name, video_shots, data / "images", tts)
        entries.append({"file": name, "duration": round(duration, 3), "shots": video_shots})
        print(f"wrote {name}: {len(video_shots)} shots, {duration:.0f} s", flush=True)
    manifest = {"params": params, "videos": entries}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/eval/flickr8k"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=5.0, help="target length of each video")
    parser.add_argument("--narrated", type=float, default=0.5, help="share of shots with narration")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos (after shuffling)")
    parser.add_argument("--repeat", type=int, default=1, help="cycle the photos this many times (long videos)")
    parser.add_argument("--max-videos", type=int, default=None, help="write only the first N videos")
    args = parser.parse_args()
    manifest = generate(args.data, args.out, args.split, args.seed, args.minutes, args.narrated, args.limit, args.repeat,
                        args.max_videos)
    total = sum(v["duration"] for v in manifest["videos"])
    shots = sum(len(v["shots"]) for v in manifest["videos"])
    print(f"{len(manifest['videos'])} videos, {shots} shots, {total / 60:.1f} min in {args.out}")


if __name__ == "__main__":
    main()
