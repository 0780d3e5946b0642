"""Streaming animation engine: one source picture, a driving video, the original demo's frames.

The source's keypoints and encoder features are computed once. Driving frames are decoded
and resized in a thread, animated in batches, and encoded in another thread, through
bounded queues, so memory does not grow with the video's length.

Semantics of the original demo: absolute keypoints, relative motion, relative + adapt
scale. With an initial ("best") frame i the reference animates forward from i and backward
from i, both with frame i as the initial frame, and joins the halves; as every output frame
t then depends only on frame t and frame i, the engine computes the same frames in one
forward pass with frame i's keypoints as the initial ones.

Best frame without face alignment (`find_best_frame`): each frame's FOMM keypoints and the
source's are normalised (centred on their mean, divided by the square root of their convex
hull area) and the frame with the smallest sum of squared differences to the source wins
(the first one on ties). This runs as a first keypoints-only pass over the video, keeping
only the best frame so far.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from fomm.engine.cpu_memory import keep_freed_memory
from fomm.engine.frame_resize import resize_frames
from fomm.engine.precision import Precision, autocast_context, resolve_precision
from fomm.errors import FommError, InputError
from fomm.media import ffmpeg_args
from fomm.model.checkpoint import LoadedModel
from fomm.model.fused import fuse_for_inference, inference_keypoint_detector
from fomm.model.kinematics import (
    Keypoints,
    adapt_movement_scale,
    convex_hull_area,
    initial_jacobian_inverse_of,
    normalize_kp,
)

log = logging.getLogger("fomm")


@dataclass(frozen=True)
class AnimationOptions:
    """How to animate; defaults give the reference demo's frames (fp32, align_corners off for
    published checkpoints)."""

    mode: Literal["relative", "absolute"] = "relative"
    adapt_scale: bool = False
    best_frame: int | None = None
    find_best_frame: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int | None = None
    precision: Precision = "fp32"
    # grid_sample's convention; None: the model's own (the reference demo's for published
    # checkpoints, corner-aligned for models trained by `fomm train`)
    align_corners: bool | None = None
    frame_size: tuple[int, int] | None = None
    channels_last: bool = True
    # inference rewrites of the networks (fomm.model.fused): same frames up to float rounding
    fused: bool = True
    compile: bool = False
    # CUDA: let cuDNN time its algorithms for each new shape. Off by default: on an H100 at
    # fp16 batch 64 its heuristics ran batches as fast (2,720 against 2,731 frames/s), and the
    # search cost a fresh process 1.8-5.4 s of a 1,500-frame run (bench/engine_gpu.py)
    cudnn_benchmark: bool = False
    queue_batches: int = 2
    # written frame size (H, W); None: the model's frame size (the original demo's frames)
    output_size: tuple[int, int] | None = None
    # driving frames of another size than the model's resized on the animating device (same
    # floats as skimage's resize); None: on a GPU, while on a CPU the decoder thread resizes
    device_resize: bool | None = None
    # transparent source pixels: blended over this colour, or None to drop alpha as the demo does
    source_background: tuple[int, int, int] | None = (255, 255, 255)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FommError("--device cuda: no CUDA device is available")
    return torch.device(name)


def default_batch_size(device: torch.device) -> int:
    return 32 if device.type == "cuda" else 4


def normalised_shape(values: np.ndarray) -> np.ndarray:
    """Keypoints centred on their mean and scaled by sqrt(convex hull area)."""
    centred = values - values.mean(axis=0, keepdims=True)
    area = convex_hull_area(values)
    return centred / math.sqrt(area) if area > 0 else centred


_UINT8_TO_UNIT: dict[torch.device, torch.Tensor] = {}


def uint8_to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1] by a 256-entry table that numpy's `value / float32(255)`
    filled: the same values as `resize_for_model` on any device (CUDA divides by a scalar
    as a multiply by its reciprocal, which can differ in the last bit)."""
    table = _UINT8_TO_UNIT.get(frames.device)
    if table is None:
        values = np.divide(np.arange(256, dtype=np.uint8), np.float32(255), dtype=np.float32)
        table = torch.from_numpy(values).to(frames.device)
        _UINT8_TO_UNIT[frames.device] = table
    return table[frames.int()]


def frames_to_tensor(
    frames: np.ndarray,
    device: torch.device,
    channels_last: bool,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """(B,H,W,3) float32 in [0,1], or uint8 frames, -> (B,3,H,W) float32 on the device.
    uint8 frames cross to the device at a quarter of the bytes and become floats there; when
    `size` (h, w) is given and they have another, they are resized there too, to the floats
    `resize_for_model` gives (`fomm.engine.frame_resize`).

    channels_last keeps the NHWC layout under the NCHW view, as the original demo's
    `torch.tensor(frames).permute(...)` does; the generator's convolutions run faster on it.
    (The keypoint detector may want contiguous frames: `Animator.detect`.)
    """
    is_uint8 = frames.dtype == np.uint8
    tensor = torch.from_numpy(np.ascontiguousarray(frames, dtype=None if is_uint8 else np.float32))
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    tensor = tensor.to(device, non_blocking=True)
    if is_uint8 and size is not None and tuple(tensor.shape[1:3]) != tuple(size):
        resized = resize_frames(tensor, size)
        return resized.contiguous(memory_format=torch.channels_last) if channels_last else resized
    if is_uint8:
        tensor = uint8_to_unit(tensor)
    tensor = tensor.permute(0, 3, 1, 2)
    return tensor if channels_last else tensor.contiguous()


class Animator:
    """The source's keypoints and features, computed once; animates driving batches."""

    def __init__(self, model: LoadedModel, source: np.ndarray, options: AnimationOptions):
        self.model = model
        self.options = options
        self.device = resolve_device(options.device)
        # what runs: bf16 asked on a CPU without bf16 arithmetic runs fp32 (fomm.engine.precision)
        self.precision = resolve_precision(self.device, options.precision)
        self.batch_size = options.batch_size or default_batch_size(self.device)
        if self.batch_size < 1:
            raise FommError(f"batch size must be at least 1, not {self.batch_size}")
        model.kp_detector.to(self.device)
        model.generator.to(self.device)
        model.set_align_corners(options.align_corners)
        self.kp_detector = model.kp_detector
        self.generator = model.generator
        if self.device.type == "cpu":
            keep_freed_memory()  # before fusing too: its float64 temporaries are large
        if options.fused:
            defer = self.device.type == "cpu" and not options.compile
            self.generator = fuse_for_inference(
                model.generator, defer_subpixel=defer, exact=self.precision == "fp32"
            )
            self.kp_detector = inference_keypoint_detector(model.kp_detector)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = options.cudnn_benchmark
            # fp32 means the reference's arithmetic: no TF32 convolutions or matmuls
            exact = self.precision == "fp32"
            torch.backends.cudnn.allow_tf32 = not exact
            torch.backends.cuda.matmul.allow_tf32 = not exact
        # --compile makes `predict` one graph (on CUDA "reduce-overhead": one CUDA graph per
        # batch shape, replayed). Eager animators keep no bound method of their own: that
        # reference cycle held a dropped animator's weights and buffers (hundreds of MB) until
        # the garbage collector ran, so the next animator's first batch faulted in fresh pages.
        self._compiled_predict = None
        if options.compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._compiled_predict = torch.compile(self._predict, mode=mode)
        self.frame_size = (source.shape[0], source.shape[1])
        # On a GPU, driving frames of another size are resized there: the decoder thread's
        # resize of a 720p frame takes 20 ms, 50 frames/s. On a CPU that thread resizes them
        # beside the animation (torch's resize is no faster there).
        self.resizes_frames = (
            self.device.type == "cuda" if options.device_resize is None else options.device_resize
        )
        self.source = frames_to_tensor(source[None], self.device, options.channels_last)
        # At fp32 the keypoint detector runs on contiguous frames: its spatial softmax turns
        # feature rounding into keypoint moves that shift whole frames, and its channels-last
        # convolutions round ~3x further from float64 (and are no faster on a CPU). At
        # fp16/bf16 channels-last is faster (tensor cores; oneDNN's bf16 kernels: vox-256 11 ms
        # against 14 ms a frame on 2 CPU cores).
        self.detector_channels_last = options.channels_last and self.precision != "fp32"
        # At fp32 on a CPU it also runs frame by frame, as the original demo does: oneDNN's
        # rounding depends on the batch size, and a batch's keypoints, 1-2e-6 from the
        # original's, moved frames by up to 1.4e-5 (AVX2 EPYC; 1% more time, fp32 only).
        self.detector_frame_by_frame = self.precision == "fp32" and self.device.type == "cpu"
        with self.inference():
            self.kp_source = self._kept_kp(self.detect(self.source))
            self.source_features = self.generator.encode_source(self.source)
        self.kp_initial: Keypoints | None = None
        self.initial_inverse: torch.Tensor | None = None
        self.scale = 1.0

    def inference(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(autocast_context(self.device, self.precision))
        return stack

    def detect(self, frames: torch.Tensor) -> Keypoints:
        """The keypoint detector on (B,3,H,W) frames, in its memory format (see __init__)."""
        if not self.detector_channels_last:
            frames = frames.contiguous()
        if self.detector_frame_by_frame and len(frames) > 1:
            each = [self.kp_detector(frame) for frame in frames.split(1)]
            return {name: torch.cat([kp[name] for kp in each]) for name in each[0]}
        return self.kp_detector(frames)

    @staticmethod
    def _float_kp(kp: Keypoints) -> Keypoints:
        return {name: value.float() for name, value in kp.items()}

    @staticmethod
    def _kept_kp(kp: Keypoints) -> Keypoints:
        """Keypoints kept across batches, as float32 copies of their own."""
        return {name: value.float().clone() for name, value in kp.items()}

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        """Keypoints of (B,H,W,3) frames."""
        with self.inference():
            batch = self._frames_tensor(frames)
            return self._float_kp(self.detect(batch))

    def set_initial(self, kp_initial: Keypoints) -> None:
        """The initial driving keypoints (first or best frame), batch 1."""
        self.kp_initial = self._kept_kp({name: value[:1] for name, value in kp_initial.items()})
        self.initial_inverse = initial_jacobian_inverse_of(self.kp_initial)
        if self.options.mode == "relative" and self.options.adapt_scale:
            self.scale = adapt_movement_scale(self.kp_source, self.kp_initial)
        else:
            self.scale = 1.0

    def animate_tensor(self, driving: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) driving frames on the device -> (B,3,H,W) float32 predictions."""
        with self.inference():
            if self.kp_initial is None:
                kp_driving = self._float_kp(self.detect(driving))
                self.set_initial(kp_driving)
                if not self.options.compile:
                    return self._generate(kp_driving)
            return self.predict(driving)

    def predict(self, driving: torch.Tensor) -> torch.Tensor:
        """Driving batch -> predictions, once the initial frame is known."""
        if self._compiled_predict is not None:
            return self._compiled_predict(driving)
        return self._predict(driving)

    def _predict(self, driving: torch.Tensor) -> torch.Tensor:
        return self._generate(self._float_kp(self.detect(driving)))

    def _generate(self, kp_driving: Keypoints) -> torch.Tensor:
        kp_norm = normalize_kp(
            self.kp_source,
            kp_driving,
            self.kp_initial,
            relative=self.options.mode == "relative",
            scale=self.scale,
            initial_jacobian_inverse=self.initial_inverse,
        )
        out = self.generator(
            self.source, self.kp_source, kp_norm, self.source_features, full_output=False
        )
        return out["prediction"].float()

    def _driving_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """(B,H,W,3) frames on the device. On CUDA a short last batch is padded to the batch
        size with its last frame: one shape for the whole video, so cuDNN's algorithm search
        and (with --compile) the CUDA-graph capture happen once; callers keep the first B."""
        if self.device.type == "cuda" and 0 < len(frames) < self.batch_size:
            padding = np.repeat(frames[-1:], self.batch_size - len(frames), axis=0)
            frames = np.concatenate([frames, padding])
        return self._frames_tensor(frames)

    def _frames_tensor(self, frames: np.ndarray) -> torch.Tensor:
        return frames_to_tensor(frames, self.device, self.options.channels_last, self.frame_size)

    def animate(self, frames: np.ndarray) -> np.ndarray:
        """(B,H,W,3) frames (see `frames_to_tensor`) -> (B,H,W,3) float32 predictions."""
        prediction = self.animate_tensor(self._driving_tensor(frames))[: len(frames)]
        return prediction.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def animate_uint8(self, frames: np.ndarray) -> np.ndarray:
        """(B,H,W,3) frames (see `frames_to_tensor`) -> (B,H,W,3) uint8 frames as
        skimage.img_as_ubyte rounds."""
        prediction = self.animate_tensor(self._driving_tensor(frames))[: len(frames)]
        output_size = self.options.output_size
        if output_size is not None and tuple(prediction.shape[-2:]) != tuple(output_size):
            prediction = torch.nn.functional.interpolate(
                prediction.float(), size=output_size, mode="bilinear", align_corners=False
            )
        scaled = torch.round(prediction * 255).clamp_(0, 255).to(torch.uint8)
        return scaled.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def shape_distance(self, kp_driving: Keypoints) -> np.ndarray:
        """Per frame: squared distance between normalised source and driving keypoints."""
        source = normalised_shape(self.kp_source["value"][0].cpu().numpy().astype(np.float64))
        values = kp_driving["value"].cpu().numpy().astype(np.float64)
        return np.array([((normalised_shape(v) - source) ** 2).sum() for v in values])


def batched(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Group frames into (B,H,W,3) arrays of at most `size`: uint8 frames stay uint8 (see
    `frame_for_model`), others become float32."""

    def stacked(chunk: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(chunk)
        return batch if batch.dtype == np.uint8 else batch.astype(np.float32, copy=False)

    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield stacked(chunk)
            chunk = []
    if chunk:
        yield stacked(chunk)


def animate_arrays(
    model: LoadedModel,
    source: np.ndarray,
    driving: Iterable[np.ndarray],
    options: AnimationOptions = AnimationOptions(),
) -> Iterator[np.ndarray]:
    """Animate in memory: (H,W,3) float32 source + driving frames -> (H,W,3) float32 frames.

    Frames must already have the model's input size. With a best frame (given or found)
    the driving frames are held in memory; otherwise they are streamed in batches.
    """
    animator = Animator(model, np.asarray(source, dtype=np.float32), options)
    if options.best_frame is not None or options.find_best_frame:
        frames = [np.asarray(frame, dtype=np.float32) for frame in driving]
        if not frames:
            raise FommError("the driving video has no frames")
        if options.find_best_frame:
            distances = np.concatenate(
                [
                    animator.shape_distance(animator.keypoints(chunk))
                    for chunk in batched(frames, animator.batch_size)
                ]
            )
            index = int(np.argmin(distances))
        else:
            index = options.best_frame
            if not 0 <= index < len(frames):
                raise FommError(
                    f"best frame {index} is out of range: the driving video has "
                    f"{len(frames)} frames (0..{len(frames) - 1})"
                )
        animator.set_initial(animator.keypoints(frames[index][None]))
        driving = frames
    for chunk in batched(driving, animator.batch_size):
        yield from animator.animate(chunk)


# --------------------------------------------------------------------------- file engine

_DONE = object()


class _Worker(threading.Thread):
    """A daemon thread whose exception is re-raised by `check()` in the caller."""

    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._target_function = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_function()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self.error = error

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(channel: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put unless the pipeline is stopping; False when it is."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(channel: queue.Queue, stop: threading.Event, producer: _Worker | None = None) -> object:
    """Next item; _DONE when the pipeline stops; re-raises the producer's error."""
    while True:
        try:
            return channel.get(timeout=0.1)
        except queue.Empty:
            if producer is not None:
                producer.check()
                if not producer.is_alive() and channel.empty():
                    return _DONE
            if stop.is_set():
                return _DONE


def _read_source(
    path: Path, size: tuple[int, int], background: tuple[int, int, int] | None
) -> np.ndarray:
    from fomm.media.image import read_image
    from fomm.media.resize import picture_for_model

    if not path.exists():
        raise InputError(path, "source file not found")
    return picture_for_model(read_image(path, background=background), size)


def frame_for_model(
    frame: np.ndarray, size: tuple[int, int], keep_uint8: bool = False
) -> np.ndarray:
    """A decoded RGB uint8 frame as the networks take it: kept as uint8 when it already has
    the model's size (`frames_to_tensor` turns it into the same floats `resize_for_model`
    gives) or when the device resizes it (`keep_uint8`), else resized to those floats here
    (`picture_for_model`)."""
    from fomm.media.resize import picture_for_model

    uint8_rgb = frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    if uint8_rgb and (keep_uint8 or frame.shape[:2] == (size[0], size[1])):
        return frame
    return picture_for_model(frame, size)


def _driving_frames(
    path: Path, animator: Animator, stop_after: int | None = None
) -> Iterator[np.ndarray]:
    """The driving video's frames ready for `animator`, streamed."""
    from fomm.media.video import VideoReader

    with VideoReader(path) as reader:
        for index, frame in enumerate(reader):
            if stop_after is not None and index >= stop_after:
                break
            yield frame_for_model(frame, animator.frame_size, animator.resizes_frames)


def _progress(total: int | None, description: str):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="frame",
        desc=description,
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
        leave=False,
    )


def find_initial_frame(
    animator: Animator, driving_path: Path, options: AnimationOptions
) -> tuple[int, int]:
    """(index, frames read) of the initial frame; sets the animator's initial keypoints."""
    if options.best_frame is not None:
        index = options.best_frame
        if index < 0:
            raise InputError(driving_path, f"best frame {index} is out of range (negative)")
        seen = 0
        for frame in _driving_frames(driving_path, animator, stop_after=index + 1):
            seen += 1
            if seen == index + 1:
                animator.set_initial(animator.keypoints(frame[None]))
                return index, seen
        raise InputError(
            driving_path,
            f"best frame {index} is out of range: the video has {seen} frames (0..{seen - 1})",
        )
    best_index, best_distance, best_kp, seen = -1, math.inf, None, 0
    with _progress(None, "best frame") as bar:
        for chunk in batched(_driving_frames(driving_path, animator), animator.batch_size):
            kp = animator.keypoints(chunk)
            distances = animator.shape_distance(kp)
            position = int(np.argmin(distances))
            if distances[position] < best_distance:
                best_distance = float(distances[position])
                best_index = seen + position
                best_kp = {name: value[position : position + 1] for name, value in kp.items()}
            seen += len(chunk)
            bar.update(len(chunk))
    if best_kp is None:
        raise InputError(driving_path, "no decodable frames")
    animator.set_initial(best_kp)
    return best_index, seen


@dataclass(frozen=True)
class AnimationReport:
    output: Path
    frames: int
    fps: float
    best_frame: int | None
    audio: bool
    seconds: float
    # from the call to the animator being ready (probe, source, model on the device)
    startup_seconds: float = 0.0
    # where the animation loop's time went: its first batch (the device's first kernels,
    # compiling), and its waits for the decoder and for the encoder: the stage that bounds
    # a run's speed is the one the loop waits for (or the networks, if it waits for neither)
    first_batch_seconds: float = 0.0
    decoder_wait_seconds: float = 0.0
    encoder_wait_seconds: float = 0.0
    audio_seconds: float = 0.0


def encoder_preset(device: torch.device) -> str:
    """x264's preset when none is asked for: the encoder costs next to nothing beside a CPU
    animation, but is the slowest stage of a GPU one."""
    return ffmpeg_args.GPU_PRESET if device.type == "cuda" else ffmpeg_args.DEFAULT_PRESET


def animate_file(
    model: LoadedModel,
    source_path: str | os.PathLike,
    driving_path: str | os.PathLike,
    output_path: str | os.PathLike,
    options: AnimationOptions = AnimationOptions(),
    audio: bool = True,
    quality: int | None = None,
    preset: str | None = None,
) -> AnimationReport:
    """Animate a source picture with a driving video into an mp4 at the driving's fps."""
    import time

    from fomm.fileutil import check_output_path, ensure_writable_dir, partial_path
    from fomm.media.image import is_picture
    from fomm.media.video import VideoWriter, probe

    started = time.perf_counter()
    source_path, driving_path, output_path = (
        Path(source_path),
        Path(driving_path),
        Path(output_path),
    )
    if not driving_path.exists():
        raise InputError(driving_path, "driving video not found")
    check_output_path(output_path, inputs=(source_path, driving_path))
    if is_picture(output_path):
        raise InputError(output_path, "the animation is a video: name the output .mp4")
    ensure_writable_dir(output_path)
    info = probe(driving_path)
    size = options.frame_size or model.config.frame_shape
    problem = model.config.frame_size_problem(*size)
    if problem:
        raise FommError(problem)
    if (
        options.best_frame is not None
        and info.frame_count is not None
        and not 0 <= options.best_frame < info.frame_count
    ):
        raise InputError(
            driving_path,
            f"best frame {options.best_frame} is out of range: the video has "
            f"{info.frame_count} frames (0..{info.frame_count - 1})",
        )
    source = _read_source(source_path, size, options.source_background)
    animator = Animator(model, source, options)
    startup_seconds = time.perf_counter() - started
    best_index = None
    if options.best_frame is not None or options.find_best_frame:
        best_index, _ = find_initial_frame(animator, driving_path, options)
        log.debug("initial frame: %d", best_index)

    mux = audio and bool(getattr(info, "has_audio", False))
    if mux:
        try:
            from fomm.media.audio import mux_audio
        except ImportError:
            log.warning("audio muxing is not available; writing the video without sound")
            mux = False
    video_path = (
        partial_path(output_path.with_name(output_path.stem + "-video.mp4")) if mux else output_path
    )
    writer_kwargs: dict = {} if quality is None else {"quality": quality}
    writer_kwargs["preset"] = preset or encoder_preset(animator.device)
    writer = VideoWriter(video_path, info.fps, **writer_kwargs)
    stop = threading.Event()
    stop_encoding = threading.Event()  # set when the encoder ends, normally or not
    decoded: queue.Queue = queue.Queue(maxsize=options.queue_batches)
    animated: queue.Queue = queue.Queue(maxsize=options.queue_batches)
    frames_written = 0

    def decode() -> None:
        with contextlib.closing(_driving_frames(driving_path, animator)) as frames:
            for chunk in batched(frames, animator.batch_size):
                if not _put(decoded, chunk, stop):
                    return
        _put(decoded, _DONE, stop)

    def encode() -> None:
        nonlocal frames_written
        try:
            while True:
                item = _get(animated, stop)
                if item is _DONE:
                    return
                writer.write(item)
                frames_written += len(item)
        finally:
            stop_encoding.set()

    decoder = _Worker(decode, "fomm-decode")
    encoder = _Worker(encode, "fomm-encode")
    first_batch_seconds = decoder_wait_seconds = encoder_wait_seconds = 0.0
    loop_started = time.perf_counter()
    try:
        decoder.start()
        encoder.start()
        with _progress(info.frame_count, "animate") as bar:
            while True:
                waited = time.perf_counter()
                chunk = _get(decoded, stop, decoder)
                got = time.perf_counter()
                decoder_wait_seconds += got - waited
                if chunk is _DONE:
                    break
                frames = animator.animate_uint8(chunk)
                if not first_batch_seconds:
                    first_batch_seconds = time.perf_counter() - got
                waited = time.perf_counter()
                if not _put(animated, frames, stop_encoding):
                    encoder.join()
                    encoder.check()
                    raise FommError(f"{output_path}: the video encoder stopped early")
                encoder_wait_seconds += time.perf_counter() - waited
                bar.update(len(frames))
        waited = time.perf_counter()
        _put(animated, _DONE, stop_encoding)
        encoder.join()  # the batches still queued: the encoder's time too
        encoder_wait_seconds += time.perf_counter() - waited
        encoder.check()
        decoder.join()
        decoder.check()
        if frames_written == 0:
            raise InputError(driving_path, "no decodable frames")
        writer.close()
    except BaseException as error:
        stop.set()
        with contextlib.suppress(Exception):
            writer.abort()
        if mux:
            with contextlib.suppress(OSError):
                video_path.unlink()
        hidden_name = f"{video_path}: "
        if isinstance(error, FommError) and str(error).startswith(hidden_name):
            # the user knows the output's name, not the intermediate's
            raise InputError(output_path, str(error)[len(hidden_name) :]) from None
        raise
    finally:
        stop.set()
    loop_seconds = time.perf_counter() - loop_started
    audio_started = time.perf_counter()
    has_audio = False
    if mux:
        try:
            has_audio = mux_audio(video_path, driving_path, output_path)
        finally:
            with contextlib.suppress(OSError):
                video_path.unlink()
    report = AnimationReport(
        output_path,
        frames_written,
        float(info.fps),
        best_index,
        has_audio,
        time.perf_counter() - started,
        startup_seconds,
        first_batch_seconds,
        decoder_wait_seconds,
        encoder_wait_seconds,
        time.perf_counter() - audio_started if mux else 0.0,
    )
    log.debug(
        "%s: start-up %.2f s (probe, source, networks on %s); animation %.2f s: first batch "
        "%.2f s, waits for the decoder %.2f s and for the encoder %.2f s; audio %.2f s",
        output_path, startup_seconds, animator.device, loop_seconds,
        report.first_batch_seconds, report.decoder_wait_seconds,
        report.encoder_wait_seconds, report.audio_seconds,
    )  # fmt: skip
    return report
