"""Text for every clip: VLM captions, Whisper transcripts, dataset captions, and object superclasses.

CineBrain (section 3.2, appendix C) describes every video clip with two VLMs (Qwen2.5-VL-7B and
LLaVA-Video-7B; CineSync trains on both as augmentation) and transcribes every audio clip with
Whisper-large-v3.  ``captions.sources`` in the config lists the sources to run, each one of:

``vlm``
    ``AutoProcessor`` + ``AutoModelForImageTextToText`` loaded from ``model`` (a folder or hub id), prompted
    with a file of ``resources/prompts/`` through the processor's chat template.  The clip goes in as a
    **video**: its decoded frames with their metadata (rate, frame count, duration), handed to the model's
    own video processor — Qwen2.5-VL's (frames paired by its temporal patch, ``second_per_grid_ts`` from the
    rate) or LLaVA-Video's (LLaVA-OneVision's, pooled per frame).  By default every frame of the clip is
    shown (the dataset's 4-s clips at 8 fps: 33 frames); ``frames`` (a count) or ``fps`` (a rate) lets the
    video processor sample instead.  The first caption is greedy; further ones (``n`` > 1) are sampled.
``whisper``
    ``AutoProcessor`` + ``AutoModelForSpeechSeq2Seq`` on the clip's 16-kHz audio; ``language`` fixed or
    detected per clip (``model.detect_language``), segment timestamps kept (JSON).
``sidecar``
    captions shipped with the dataset: ``stimuli/<episode>_captions.tsv`` with ``onset``, ``duration``
    (s from the film start) and ``caption``; a clip gets the captions of the scenes it overlaps, largest
    overlap first (up to ``n``).

Categories (CineNeuron, seed 001, appendix B): the nouns of a clip's caption mapped to 15 superclasses,
either with a word list (``resources/categories/superclasses.yaml``) or with the VLM and the prompt
``resources/prompts/categories.txt`` (the paper's route), whose JSON answer is parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .settings import build, section, sections, setting
from .stimuli import episode_clips, read_video, read_wav

#: Columns of ``results/captions/<episode>.parquet``.
CAPTION_COLUMNS = ["episode", "clip", "clip_index", "source", "backend", "model", "caption_index", "text",
                   "language", "segments"]  # fmt: skip
BACKENDS = ("vlm", "whisper", "sidecar")


class CaptionError(ValueError):
    """A caption source is misconfigured or its input is missing."""


def resolve_resource(name, folder: Path) -> Path:
    """A file given by name (looked up in ``folder``) or by path."""
    p = Path(name)
    if p.exists():
        return p
    if (folder / name).exists():
        return folder / name
    raise CaptionError(f"{name}: no such file (nor {folder / name}); fix: give a path or a file of {folder}")


@dataclass
class Source:
    """One entry of ``captions.sources``: name, backend (vlm | whisper | sidecar), n captions per clip, and for
    vlm: model, prompt (a file of resources/prompts/), frames or fps, max_new_tokens, temperature, batch_size; for
    whisper: model, language (null: detected per clip)."""

    name: str = setting("", "the name the captions carry (column source)", required=True,
                        pattern="^[A-Za-z0-9_.-]+$")  # fmt: skip
    backend: str = setting("", "vlm | whisper | sidecar", required=True, enum=BACKENDS)
    model: str | None = setting(None, "folder or hub id (vlm, whisper)")
    prompt: str | None = setting(None, "a file of resources/prompts/, or a path (vlm)")
    n: int = setting(1, "captions per clip", minimum=1)
    frames: int | None = setting(None, "vlm: frames sampled evenly from the clip by the model's video processor "
                                 "(null: every frame; exclusive with fps)", minimum=1)  # fmt: skip
    fps: float | None = setting(None, "vlm: frames per second sampled by the model's video processor (null: the "
                                "clip's own rate; exclusive with frames)", exclusiveMinimum=0)  # fmt: skip
    max_new_tokens: int = setting(77, "longest caption in tokens", minimum=1)
    temperature: float = setting(0.7, "sampling temperature of captions 2..n", exclusiveMinimum=0)
    language: str | None = setting(None, "whisper: the language (null: detected per clip)")
    batch_size: int = setting(4, "clips per model call", minimum=1)
    seed: int = setting(0, "seed of the sampled captions", minimum=0)

    __schema__ = {"allOf": [{"if": {"properties": {"backend": {"enum": ["vlm", "whisper"]}}},
                             "then": {"required": ["model"]}},
                            {"if": {"properties": {"backend": {"const": "vlm"}}}, "then": {"required": ["prompt"]}}]}

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise CaptionError(f"captions source '{self.name}': backend '{self.backend}' is not one of {BACKENDS}")
        if self.backend in ("vlm", "whisper") and not self.model:
            raise CaptionError(f"captions source '{self.name}': backend {self.backend} needs 'model' (a folder or hub id)")
        if self.backend == "vlm" and not self.prompt:
            raise CaptionError(f"captions source '{self.name}': backend vlm needs 'prompt' (a file of resources/prompts/)")
        if self.frames is not None and self.fps is not None:
            raise CaptionError(f"captions source '{self.name}': 'frames' ({self.frames}) and 'fps' ({self.fps}) both "
                               "choose how the clip is sampled; fix: set one of them, or neither (every frame)")  # fmt: skip


@dataclass(frozen=True)
class CategorySettings:
    """CineNeuron's 15 superclasses of each clip's first caption from ``source``, by word list or by a VLM."""

    backend: str = setting("wordlist", "wordlist | vlm", enum=("wordlist", "vlm"))
    source: str = setting("truth", "the caption source whose first caption is categorised")
    wordlist: str | None = setting(None, "the word list (null: resources/categories/superclasses.yaml)")
    model: str | None = setting(None, "the VLM (backend vlm)")
    prompt: str = setting("categories.txt", "a file of resources/prompts/ (backend vlm)")
    max_new_tokens: int = setting(64, "length of the VLM's JSON answer", minimum=1)

    __schema__ = {"if": {"properties": {"backend": {"const": "vlm"}}},
                  "then": {"properties": {"model": {"type": "string"}}, "required": ["model"]}}


@dataclass(frozen=True)
class CaptionSettings:
    """Captions of every clip from the configured sources, and their superclasses (rule captions_generate)."""

    device: str = setting("cpu", "where the models run (cpu, cuda, cuda:1)")
    sources: tuple[Source, ...] = sections(Source, [{"name": "truth", "backend": "sidecar"}], "caption sources",
                                           minItems=1)  # fmt: skip
    categories: CategorySettings = section(CategorySettings)


def _rows(clips: pd.DataFrame, source: Source, model: str, texts: list[list[str]], languages=None, segments=None):
    rows = []
    for i, (_, clip) in enumerate(clips.iterrows()):
        for j, text in enumerate(texts[i]):
            rows.append({"episode": clip["episode"], "clip": clip["clip"], "clip_index": int(clip["clip_index"]),
                         "source": source.name, "backend": source.backend, "model": model, "caption_index": j,
                         "text": text.strip(), "language": (languages[i] if languages else ""),
                         "segments": json.dumps(segments[i][j]) if segments else ""})  # fmt: skip
    return rows


# --- sidecar ---------------------------------------------------------------------------------------


def sidecar_captions(clips: pd.DataFrame, table, n: int) -> list[list[str]]:
    """Captions of the scenes each clip overlaps (largest overlap first, at most ``n``)."""
    table = Path(table)
    if not table.exists():
        raise CaptionError(f"{table}: no caption sidecar for this episode; fix: add it (onset, duration, caption "
                           "columns) or remove the sidecar source from captions.sources")  # fmt: skip
    df = pd.read_csv(table, sep="\t")
    missing = {"onset", "duration", "caption"} - set(df.columns)
    if missing:
        raise CaptionError(f"{table}: missing column(s) {sorted(missing)}; fix: a TSV with onset, duration, caption")
    out = []
    for start, end in zip(clips["start"], clips["end"], strict=True):
        overlap = np.minimum(df["onset"] + df["duration"], end) - np.maximum(df["onset"], start)
        order = np.argsort(-overlap.to_numpy(), kind="stable")
        out.append([df["caption"].iloc[i] for i in order[:n] if overlap.iloc[i] > 0])
    return out


# --- vlm -------------------------------------------------------------------------------------------


def load_vlm(model: str, device: str = "cpu"):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model)
    net = AutoModelForImageTextToText.from_pretrained(model).to(device).eval()
    return processor, net


def clip_video(path) -> tuple[np.ndarray, dict]:
    """A clip's frames, uint8 (T, H, W, 3), and the metadata a transformers video processor samples and
    times them by (``total_num_frames``, ``fps``, ``duration``, ``height``, ``width``)."""
    frames, fps = read_video(path, with_rate=True)
    t, h, w = frames.shape[:3]
    return frames, {"total_num_frames": t, "fps": fps, "duration": t / fps, "height": h, "width": w,
                    "video_backend": "pyav"}  # fmt: skip


def vlm_inputs(processor, prompts: list[str], videos: list[tuple[np.ndarray, dict]] | None = None, *,
               frames: int | None = None, fps: float | None = None):  # fmt: skip
    """The model inputs for one prompt per row, each after its clip (``videos``: (frames, metadata) pairs from
    :func:`clip_video`) or text only (``videos`` None), through the processor's chat template and video
    processor; ``frames``/``fps`` let the video processor sample the clip (None, None: every frame)."""
    if videos is not None and getattr(processor, "video_processor", None) is None:
        raise CaptionError(f"{type(processor).__name__} has no video processor, and the vlm backend shows the clip "
                           "as a video; fix: use a video-language model (Qwen2.5-VL, LLaVA-Video / LLaVA-OneVision)")  # fmt: skip
    pair = getattr(getattr(processor, "video_processor", None), "temporal_patch_size", 1) or 1
    if videos is not None and frames is not None and frames < pair:
        raise CaptionError(f"frames: {frames} is fewer than {type(processor.video_processor).__name__}'s temporal patch "
                           f"of {pair} frames (it would sample none); fix: frames >= {pair}, or leave it null (every frame)")  # fmt: skip
    video = [{"type": "video"}] if videos is not None else []
    msgs = [[{"role": "user", "content": [*video, {"type": "text", "text": p}]}] for p in prompts]
    texts = [processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in msgs]
    kwargs = {"text": texts, "return_tensors": "pt", "padding": True}
    if videos is not None:
        kwargs["videos"] = [v for v, _ in videos]
        kwargs["video_metadata"] = [dict(m) for _, m in videos]
        kwargs["do_sample_frames"] = frames is not None or fps is not None
        if frames is not None:
            kwargs["num_frames"] = frames
        if fps is not None:
            kwargs["fps"] = fps
        if hasattr(processor.video_processor, "cap_pixels_per_frame") and processor.video_processor.cap_pixels_per_frame is None:
            # Qwen2-VL's video processor: bound the pixels of each frame as the reference (qwen-vl-utils) does
            kwargs["cap_pixels_per_frame"] = True
    processor.tokenizer.padding_side = "left"  # decoder-only generation continues every row at its end
    return processor(**kwargs)


def generate_answers(processor, net, inputs, *, max_new_tokens: int, temperature: float | None, device: str) -> list[str]:
    """Greedy (``temperature`` None) or sampled answers of a chat model to :func:`vlm_inputs`."""
    import torch

    inputs = inputs.to(device)
    gen = {"max_new_tokens": max_new_tokens, "do_sample": temperature is not None}
    if temperature is not None:
        gen["temperature"] = temperature
    with torch.no_grad():
        out = net.generate(**inputs, **gen)
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def vlm_captions(clips: pd.DataFrame, source: Source, prompt_dir, device: str = "cpu", progress: bool = False):
    """``source.n`` captions of every clip shown as a video; the prompt is a file of ``prompt_dir`` (the
    workflow's resources/prompts/) or a path."""
    import torch
    from tqdm.auto import tqdm

    processor, net = load_vlm(source.model, device)
    prompt = resolve_resource(source.prompt, Path(prompt_dir)).read_text().strip()
    texts = [[] for _ in range(len(clips))]
    videos = list(clips["video"])
    for b in tqdm(range(0, len(videos), source.batch_size), desc=f"vlm {source.name}", disable=not progress):
        batch = [clip_video(v) for v in videos[b : b + source.batch_size]]
        inputs = vlm_inputs(processor, [prompt] * len(batch), batch, frames=source.frames, fps=source.fps)
        for j in range(source.n):
            torch.manual_seed(source.seed + j)
            answers = generate_answers(processor, net, inputs, max_new_tokens=source.max_new_tokens,
                                temperature=source.temperature if j > 0 else None, device=device)  # fmt: skip
            for i, a in enumerate(answers):
                texts[b + i].append(a)
    return texts


# --- whisper ---------------------------------------------------------------------------------------


def whisper_transcripts(clips: pd.DataFrame, source: Source, device: str = "cpu", progress: bool = False):
    """Per clip: the transcript(s), the language, and the segments [{text, start, end}] (s within the clip)."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    processor = AutoProcessor.from_pretrained(source.model)
    net = AutoModelForSpeechSeq2Seq.from_pretrained(source.model).to(device).eval()
    rate = processor.feature_extractor.sampling_rate
    col = f"audio_{rate}"
    if col not in clips:
        raise CaptionError(f"whisper source '{source.name}' needs clip audio at {rate} Hz, but the clips have "
                           f"{[c for c in clips if c.startswith('audio_')]}; fix: add {rate} to stimuli.audio_rates")  # fmt: skip
    id_to_lang = {v: k.strip("<|>") for k, v in net.generation_config.lang_to_id.items()}
    texts, langs, segs = [], [], []
    for path in tqdm(clips[col], desc=f"whisper {source.name}", disable=not progress):
        audio, sr = read_wav(path)
        feats = processor(audio, sampling_rate=sr, return_tensors="pt").input_features.to(device)
        with torch.no_grad():
            lang = source.language or id_to_lang[int(net.detect_language(feats)[0])]
            out_t, out_s = [], []
            for j in range(source.n):
                torch.manual_seed(source.seed + j)
                ids = net.generate(feats, language=lang, task="transcribe", return_timestamps=True,
                                   max_new_tokens=source.max_new_tokens, do_sample=j > 0)  # fmt: skip
                dec = processor.tokenizer.decode(ids[0], output_offsets=True, skip_special_tokens=True)
                out_t.append(dec["text"])
                out_s.append([{"text": o["text"], "start": float(o["timestamp"][0]),
                               "end": float(o["timestamp"][1]) if o["timestamp"][1] is not None else None}
                              for o in dec.get("offsets", [])])  # fmt: skip
        texts.append(out_t)
        langs.append(lang)
        segs.append(out_s)
    return texts, langs, segs


# --- categories ------------------------------------------------------------------------------------


def load_superclasses(path) -> dict[str, list[str]]:
    """The superclasses and their nouns of a word list (resources/categories/superclasses.yaml)."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text())
    classes = doc.get("superclasses") if isinstance(doc, dict) else None
    if not classes:
        raise CaptionError(f"{path}: no 'superclasses' mapping; fix: superclasses: {{name: [nouns, ...]}}")
    return {str(k): [str(w).lower() for w in v] for k, v in classes.items()}


class WordListCategorizer:
    """Nouns of a caption -> superclasses by word-list lookup (exact, then plural forms)."""

    def __init__(self, superclasses: dict[str, list[str]]):
        self.superclasses = superclasses
        self.lookup = {w: c for c, words in superclasses.items() for w in words}
        self.phrases = sorted((w for w in self.lookup if " " in w), key=len, reverse=True)

    def _entry(self, word: str) -> str | None:
        if word in self.lookup:
            return word
        for stem in (word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None,
                     word[:-3] + "y" if word.endswith("ies") else None):  # fmt: skip
            if stem and stem in self.lookup:
                return stem
        return None

    def __call__(self, text: str) -> tuple[list[str], list[str]]:
        """(nouns found, superclasses) of one caption."""
        text = " " + re.sub(r"[^a-z ]+", " ", text.lower()) + " "
        nouns = []
        for p in self.phrases:
            if f" {p} " in text:
                nouns.append(p)
                text = text.replace(f" {p} ", " ")
        nouns += [e for w in text.split() if (e := self._entry(w))]
        cats = sorted({self.lookup[n] for n in nouns}, key=list(self.superclasses).index)
        return list(dict.fromkeys(nouns)), cats


def parse_category_answer(answer: str, superclasses) -> tuple[list[str], list[str]]:
    """The VLM's JSON answer -> (nouns, known superclasses); unparsable answers give no categories."""
    m = re.search(r"\{.*\}", answer, re.S)
    try:
        doc = json.loads(m.group(0)) if m else {}
    except json.JSONDecodeError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    nouns = [str(x) for x in doc.get("nouns", []) if isinstance(x, str)]
    cats = [c for c in superclasses if c in {str(x).lower() for x in doc.get("categories", [])}]
    return nouns, cats


def categorize(captions: pd.DataFrame, clips: pd.DataFrame, settings, *, prompt_dir, wordlist, device="cpu",
               progress=False) -> pd.DataFrame:  # fmt: skip
    """One row per clip: the nouns and the multi-hot superclasses of its first caption from ``source``.
    ``settings``: the ``captions.categories`` section (a mapping or :class:`CategorySettings`); ``wordlist``:
    the word list used when the section names none; ``prompt_dir``: where the VLM's prompt file is."""
    settings = settings if isinstance(settings, CategorySettings) else build(CategorySettings, settings, "captions.categories")
    superclasses = load_superclasses(settings.wordlist or wordlist)
    src = captions[(captions["source"] == settings.source) & (captions["caption_index"] == 0)]
    text = dict(zip(src["clip"], src["text"], strict=True))
    texts = [text.get(c, "") for c in clips["clip"]]
    if settings.backend == "wordlist":
        found = [WordListCategorizer(superclasses)(t) for t in texts]
    elif settings.backend == "vlm":
        processor, net = load_vlm(settings.model, device)
        tmpl = resolve_resource(settings.prompt, Path(prompt_dir)).read_text()
        found = []
        for t in texts:
            prompt = tmpl.format(caption=t, superclasses=", ".join(superclasses))
            answer = generate_answers(processor, net, vlm_inputs(processor, [prompt]), max_new_tokens=settings.max_new_tokens,
                               temperature=None, device=device)[0]  # fmt: skip
            found.append(parse_category_answer(answer, superclasses))
    else:
        raise CaptionError(f"captions.categories.backend '{settings.backend}' is not wordlist or vlm")
    out = pd.DataFrame({"episode": clips["episode"].to_numpy(), "clip": clips["clip"].to_numpy(),
                        "clip_index": clips["clip_index"].to_numpy(),
                        "nouns": [n for n, _ in found], "categories": [c for _, c in found]})  # fmt: skip
    for c in superclasses:
        out[f"cat_{c}"] = [int(c in cats) for _, cats in found]
    return out


# --- the rule --------------------------------------------------------------------------------------


def caption_episode(clips_table, episode: str, sources: list[dict], categories: dict, *, prompt_dir, wordlist,
                    sidecar_dir=None, out, out_categories, device: str = "cpu", progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """Rule ``captions_generate``: every configured source on one episode's clips, then the categories.
    ``prompt_dir`` and ``wordlist`` (the default word list) are the workflow's resources; ``sidecar_dir`` the
    dataset's stimuli/ folder (sidecar captions)."""
    # Every setting is checked before any model runs.
    srcs = [spec if isinstance(spec, Source) else build(Source, spec, f"captions.sources[{i}]")
            for i, spec in enumerate(sources)]  # fmt: skip
    categories = categories if isinstance(categories, CategorySettings) else build(CategorySettings, categories)
    for src in srcs:
        if src.backend == "vlm":
            resolve_resource(src.prompt, Path(prompt_dir))
    if categories.source not in {src.name for src in srcs}:
        raise CaptionError(f"captions.categories.source is '{categories.source}', which is not one of the caption "
                           f"sources {[src.name for src in srcs]}; fix: name one of them")  # fmt: skip
    clips = episode_clips(clips_table, episode)
    rows = []
    for src in srcs:
        if src.backend == "sidecar":
            texts = sidecar_captions(clips, Path(sidecar_dir) / f"{episode}_captions.tsv", src.n)
            rows += _rows(clips, src, "sidecar", texts)
        elif src.backend == "vlm":
            rows += _rows(clips, src, src.model, vlm_captions(clips, src, prompt_dir, device, progress))
        else:
            texts, langs, segs = whisper_transcripts(clips, src, device, progress)
            rows += _rows(clips, src, src.model, texts, langs, segs)
    table = pd.DataFrame(rows, columns=CAPTION_COLUMNS)
    cats = categorize(table, clips, categories, prompt_dir=prompt_dir, wordlist=wordlist, device=device, progress=progress)
    from .atomic import atomic_files

    with atomic_files(out, out_categories) as (tmp, tmp_categories):
        table.to_parquet(tmp)
        cats.to_parquet(tmp_categories)
    return table
