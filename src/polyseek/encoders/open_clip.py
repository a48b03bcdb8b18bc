"""OpenCLIP image-text encoders: ``open-clip:<arch>/<tag>``, ``open-clip:<arch>@<checkpoint>``, ``open-clip:<folder>``.

open_clip imports torchvision, but only for training helpers and its image transforms. Where no working
torchvision is installed (PyPI's torchvision wheels do not load beside a CPU-only torch build), polyseek imports
open_clip with a stand-in torchvision whose parts refuse to run, and does the evaluation preprocessing itself
(``preprocess``: the same resize / centre-crop / normalise arithmetic on PIL images). The model, checkpoint
loading and tokenizer are open_clip's own code either way.
"""

from __future__ import annotations

import enum
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import encoders
from polyseek.encoders.torch_clip import TorchClipEncoder, load_failure, looks_like_path
from polyseek.errors import EncoderError, InvalidInputError, MissingDependencyError

EXTRA = "openclip"
# open_clip_torch requires torchvision and timm; installed normally, pip would replace polyseek's pinned torch
NO_DEPS_HINT = "then open_clip itself, without its dependencies: pip install --no-deps 'open_clip_torch==3.3.0'"
_STAND_IN_MESSAGE = (
    "torchvision does not import in this environment, so open_clip's torchvision parts (training transforms, "
    "frozen batch norm) are unavailable; polyseek.encoders.open_clip.preprocess does evaluation preprocessing"
)
_STAND_IN_MODULES = ("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.transforms",
                     "torchvision.transforms.functional")


# ---- importing open_clip -----------------------------------------------------------------------
def _torchvision_imports() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision")
        return True
    except Exception:  # noqa: BLE001 - a CUDA wheel beside CPU torch fails with RuntimeError, not ImportError
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False


class _Unavailable:
    """Base of the stand-in torchvision classes: defining subclasses works, using them says why not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise EncoderError(_STAND_IN_MESSAGE)


def _unavailable_function(*args: Any, **kwargs: Any) -> Any:
    raise EncoderError(_STAND_IN_MESSAGE)


def _stand_in_modules() -> dict[str, types.ModuleType]:
    modules = {}
    for name in _STAND_IN_MODULES:
        module = types.ModuleType(name, "polyseek's stand-in: " + _STAND_IN_MESSAGE)
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        module.__path__ = []  # a package, so its submodules resolve from sys.modules
        modules[name] = module
    setattr(modules["torchvision.ops.misc"], "FrozenBatchNorm2d", type("FrozenBatchNorm2d", (_Unavailable,), {}))
    transforms = modules["torchvision.transforms"]
    for cls in ("Normalize", "Compose", "RandomResizedCrop", "ToTensor", "Resize", "CenterCrop", "ColorJitter",
                "Grayscale"):
        setattr(transforms, cls, type(cls, (_Unavailable,), {}))
    # evaluated in default arguments at import time, so it must be a real enum
    InterpolationMode = enum.Enum("InterpolationMode", "NEAREST BILINEAR BICUBIC BOX HAMMING LANCZOS")
    setattr(transforms, "InterpolationMode", InterpolationMode)
    functional = modules["torchvision.transforms.functional"]
    for fn in ("resize", "get_dimensions", "pad", "crop", "to_tensor", "center_crop", "normalize"):
        setattr(functional, fn, _unavailable_function)
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules


def _settle_dependencies() -> None:
    """Import what open_clip takes from other packages before the stand-in exists.

    transformers caches whether torchvision is installed on first use (``is_torchvision_available`` is an
    lru_cache); were it first imported inside the stand-in window it would believe the stand-in and later fail
    to build image processors. So it, and the names open_clip's hf_model imports, are loaded and asked first.
    """
    for name in ("huggingface_hub", "safetensors", "ftfy", "regex", "tqdm", "transformers"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return
    try:
        transformers.utils.is_torchvision_available()
        for name in ("AutoModel", "AutoTokenizer", "AutoConfig", "PretrainedConfig"):
            getattr(transformers, name)
        importlib.import_module("transformers.modeling_outputs")
    except Exception:  # noqa: BLE001 - open_clip treats a broken transformers as absent; so do we
        return


@contextmanager
def _torchvision_stand_in() -> Iterator[None]:
    """Stand-in torchvision for the duration of ``import open_clip`` only; the real state is restored after."""
    _settle_dependencies()
    hidden = {n: m for n, m in sys.modules.items() if n.split(".")[0] in ("torchvision", "timm")}
    for name in hidden:
        del sys.modules[name]
    stand_ins = _stand_in_modules()
    sys.modules.update(stand_ins)
    sys.modules["timm"] = None  # type: ignore[assignment]  # timm needs the real torchvision: open_clip treats it as absent
    try:
        yield
    finally:
        for name in [*stand_ins, "timm"]:
            sys.modules.pop(name, None)
        sys.modules.update(hidden)


def import_open_clip() -> types.ModuleType:
    """The ``open_clip`` module, or MissingDependencyError naming the extra to install."""
    loaded = sys.modules.get("open_clip")
    if loaded is not None and hasattr(loaded, "create_model"):
        return loaded
    if importlib.util.find_spec("open_clip") is None:
        error = MissingDependencyError("open_clip", EXTRA)
        error.hint = f"{error.hint}; {NO_DEPS_HINT}"
        raise error
    try:
        if _torchvision_imports():
            return importlib.import_module("open_clip")
        with _torchvision_stand_in():
            module = importlib.import_module("open_clip")
        setattr(module, "polyseek_torchvision_stand_in", True)
        return module
    except ImportError as exc:  # e.g. ftfy missing: open_clip's tokenizer imports it
        for name in [n for n in sys.modules if n == "open_clip" or n.startswith("open_clip.")]:
            del sys.modules[name]
        error = MissingDependencyError(exc.name or "open_clip", EXTRA)
        error.hint = f"{error.hint}; {NO_DEPS_HINT}"
        raise error from exc


# ---- preprocessing (open_clip's evaluation transform, on PIL images) ---------------------------
def _size_pair(size: Any) -> tuple[int, int]:
    """(height, width) from open_clip's ``size`` (an int or a (h, w) pair)."""
    if isinstance(size, (list, tuple)):
        return int(size[-2]), int(size[-1])
    return int(size), int(size)


def _centre_crop_or_pad(image: Any, height: int, width: int, fill: int) -> Any:
    from PIL import Image

    if image.width < width or image.height < height:  # pad the short side symmetrically, as torchvision does
        canvas = Image.new("RGB", (max(width, image.width), max(height, image.height)), (fill,) * 3)
        canvas.paste(image, ((canvas.width - image.width) // 2, (canvas.height - image.height) // 2))
        image = canvas
    top = int(round((image.height - height) / 2.0))
    left = int(round((image.width - width) / 2.0))
    return image.crop((left, top, left + width, top + height))


def preprocess(image: Any, cfg: dict[str, Any]) -> np.ndarray:
    """One RGB PIL image → a (3, H, W) float32 array, as open_clip's eval ``image_transform`` computes it.

    ``cfg`` is open_clip's preprocess config (size, mean, std, interpolation, resize_mode, fill_color).
    """
    from PIL import Image

    height, width = _size_pair(cfg.get("size", 224))
    resample = Image.Resampling.BILINEAR if cfg.get("interpolation") == "bilinear" else Image.Resampling.BICUBIC
    mode = cfg.get("resize_mode") or "shortest"
    if mode == "squash":
        image = image.resize((width, height), resample)
    elif mode == "longest" or (mode == "shortest" and height != width):
        # ResizeKeepRatio: scale by the longest (or shortest) side ratio, rounding each side
        ratio_h, ratio_w = image.height / height, image.width / width
        ratio = max(ratio_h, ratio_w) if mode == "longest" else min(ratio_h, ratio_w)
        if mode == "shortest":  # open_clip builds this ResizeKeepRatio without its interpolation: always bicubic
            resample = Image.Resampling.BICUBIC
        image = image.resize((round(image.width / ratio), round(image.height / ratio)), resample)
        image = _centre_crop_or_pad(image, height, width, int(cfg.get("fill_color", 0) or 0))
    elif mode == "shortest":
        # torchvision Resize(int): the short side becomes `height`, the long side is truncated, not rounded
        short, long = sorted((image.width, image.height))
        new_long = int(height * long / short)
        new_size = (height, new_long) if image.width <= image.height else (new_long, height)
        if new_size != image.size:
            image = image.resize(new_size, resample)
        image = _centre_crop_or_pad(image, height, width, 0)
    else:
        raise EncoderError(f"unknown open_clip resize_mode {mode!r}", hint="known: shortest, longest, squash")
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    mean = np.asarray(_triple(cfg.get("mean"), (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)
    std = np.asarray(_triple(cfg.get("std"), (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1)


def _triple(value: Any, default: tuple[float, float, float]) -> tuple[float, ...]:
    if value is None:
        return default
    return tuple(value) if isinstance(value, (list, tuple)) else (float(value),) * 3


# ---- the encoder -------------------------------------------------------------------------------
def parse_model(model: str) -> tuple[str, str | None]:
    """``open_clip.create_model`` arguments (model_name, pretrained) from the part after ``open-clip:``.

    >>> parse_model("ViT-B-32/laion2b_s34b_b79k")
    ('ViT-B-32', 'laion2b_s34b_b79k')
    >>> parse_model("ViT-B-32@/models/clip.pt")
    ('ViT-B-32', '/models/clip.pt')
    """
    if model.startswith("hf-hub:"):
        return model, None
    if looks_like_path(model):
        folder = Path(model).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise EncoderError(f"open-clip folder {str(folder)!r} has no open_clip_config.json",
                               hint="a local folder must be laid out like an open_clip hf-hub repo")
        return f"local-dir:{folder}", None
    if "@" in model:
        architecture, _, checkpoint = model.partition("@")
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise EncoderError(f"open-clip checkpoint not found: {path}")
        return architecture, str(path)
    architecture, _, tag = model.rpartition("/")
    if not architecture or not tag:
        raise InvalidInputError(
            f"open-clip:{model} names no weights",
            hint="use open-clip:<arch>/<pretrained-tag> (e.g. ViT-B-32/laion2b_s34b_b79k), "
            "open-clip:<arch>@/path/checkpoint.pt, open-clip:hf-hub:org/repo or open-clip:/local/folder",
        )
    return architecture, tag


@encoders.register("open-clip")
class OpenClipEncoder(TorchClipEncoder):
    """An OpenCLIP model; text through its tokenizer, images through :func:`preprocess`."""

    def __init__(self, model: str, *, query_template: str | None = None, batch_size: int = 32) -> None:
        super().__init__(model, "open-clip", query_template=query_template, batch_size=batch_size)
        model = self.model_spec
        model_name, pretrained = parse_model(model)
        open_clip = import_open_clip()
        try:
            self.model = open_clip.create_model(model_name, pretrained=pretrained, device="cpu", precision="fp32",
                                                require_pretrained=True).eval()
            self.tokenizer = open_clip.get_tokenizer(model_name)
        except Exception as exc:  # noqa: BLE001 - download, config and checkpoint errors all mean "cannot load"
            if model_name.startswith("local-dir:") or (pretrained and Path(pretrained).is_file()):
                raise EncoderError(f"cannot load open-clip model {model!r}: {exc}") from exc
            raise load_failure("open-clip", model, exc) from exc
        self.preprocess_cfg = dict(open_clip.get_model_preprocess_cfg(self.model))
        visual_dim = getattr(getattr(self.model, "visual", None), "output_dim", None)
        self.dim = int(visual_dim) if visual_dim else int(self.encode_documents(["probe"]).shape[1])

    def _text_batch(self, texts: list[str]) -> Any:
        return self.model.encode_text(self.tokenizer(texts))

    def _image_batch(self, images: list[Any]) -> Any:
        pixels = self._torch.from_numpy(np.stack([preprocess(image, self.preprocess_cfg) for image in images]))
        return self.model.encode_image(pixels)
