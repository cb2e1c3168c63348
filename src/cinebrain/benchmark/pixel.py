"""Pixel- and motion-level video metrics of Cine-Benchmark, each under the convention it names.

Every function takes uint8 RGB clips ``(F, H, W, 3)`` — ground truth first, reconstruction second — of
the same frame count and size, and returns one number per clip (frame-level scores averaged over the
frames). The conventions differ between papers and change the numbers a lot, so they are separate
functions, by name:

- ``ssim_rgb``: MinD-Video's convention, which Mind-Animator and CineBrain report: scikit-image SSIM per
  colour channel with a 7 x 7 uniform window, sample covariance, data range 255, at the clip's size;
- ``ssim_gray``: NeuroClips' / MindEye2's: on the grayscale image in [0, 1], Gaussian window (sigma
  1.5), no sample covariance;
- ``psnr``: 10 log10(255^2 / MSE) over all RGB pixels of a frame, capped at 100 dB as Mind-Animator caps
  it (an identical frame scores 100, not infinity, so the best clips stay in the means);
- ``hue_cosine``: Mind-Animator's "Hue-pcc" — the cosine of the two frames' hue channels (OpenCV HSV of
  the RGB frame, H in 0..179); ``hue_pearson``: the Pearson correlation of the same hue channels. A frame
  where either is undefined (a hue channel all 0, or constant for the correlation: achromatic frames) is
  left out of its clip's mean; a clip with no such frame defined is NaN, and the summary counts it among
  the excluded clips;
- ``colour_delta_e``: the CIEDE2000 difference of the two frames' mean colours, averaged over the frames
  (ours; lower is better);
- ``epe``: end-point error between the Farneback optical flows of ground truth and reconstruction
  (OpenCV, Mind-Animator's parameters 0.5, 3, 15, 3, 5, 1.2, 0, on grayscale frames), per pixel,
  averaged over the pixels and the F - 1 frame pairs;
- ``shuffle_p``: Mind-Animator's shuffle test: the fraction of ``n`` random frame orders of the
  reconstruction that outperform the original order.

The convention ledger: where a paper's published numbers were computed by its released code with a quirk,
the value "as released" is reported beside the corrected one (``<metric>_as_released``, see
:data:`AS_RELEASED`), so that our numbers can be compared with the papers' tables:

- ``hue_cosine_as_released`` (Mind-Animator, ``Evaluation_Metrics/hue_pcc.py``): the RGB frames are
  converted as if they were BGR (red and blue swapped before the hue is taken), and only the first 6
  frames of each clip are averaged;
- ``ssim_gray_as_released`` (NEURONS, ``eval_metrics.py``): the grayscale frame is passed to scikit-image
  with ``channel_axis=-1``, so each image column is a "channel": the mean of column-wise 1-D SSIMs
  (Gaussian window along the column only), not a 2-D SSIM;
- ``epe_as_released`` (Mind-Animator, ``Evaluation_Metrics/EPE.py``): frames resized to 512 x 512
  (OpenCV bilinear) and converted to gray as if they were BGR before the Farneback flow.
"""

from __future__ import annotations

import numpy as np

FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)  # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags


class MetricInputError(ValueError):
    """Clips that cannot be compared: the message says which and why."""


def check_pair(gt: np.ndarray, rec: np.ndarray, where: str = "") -> None:
    """Both uint8 (F, H, W, 3) with the same frame count and size; else one clear error."""
    for name, x in (("ground truth", gt), ("reconstruction", rec)):
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
            raise MetricInputError(f"{where}: the {name} is {x.dtype} {x.shape}, not uint8 RGB frames (F, H, W, 3)")
    if gt.shape != rec.shape:
        raise MetricInputError(f"{where}: the reconstruction has {rec.shape[0]} frames of {rec.shape[1]} x {rec.shape[2]}"
                               f" but the ground truth {gt.shape[0]} of {gt.shape[1]} x {gt.shape[2]}; fix: reconstruct at "
                               "the clip's frame count and size (decoder.reconstruct and stimuli settings)")  # fmt: skip


def ssim_rgb(gt: np.ndarray, rec: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    pairs = zip(gt, rec, strict=True)
    return float(np.mean([structural_similarity(g, r, channel_axis=-1, data_range=255) for g, r in pairs]))


def ssim_gray(gt: np.ndarray, rec: np.ndarray) -> float:
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(rgb2gray(g), rgb2gray(r), gaussian_weights=True, sigma=1.5,
                                                use_sample_covariance=False, data_range=1.0)
                          for g, r in zip(gt, rec, strict=True)]))  # fmt: skip


PSNR_CAP = 100.0  # dB, Mind-Animator's cap for identical frames


def psnr(gt: np.ndarray, rec: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    with np.errstate(divide="ignore"):
        per_frame = [peak_signal_noise_ratio(g, r, data_range=255) for g, r in zip(gt, rec, strict=True)]
    return float(np.mean(np.minimum(per_frame, PSNR_CAP)))


def _mean_defined(values) -> float:
    """The mean over the frames where the metric is defined; NaN when it is defined for none."""
    v = np.asarray(values, float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def _hue(frame: np.ndarray, as_bgr: bool = False) -> np.ndarray:
    """OpenCV hue (0..179) of an RGB frame; ``as_bgr``: of the frame misread as BGR (red and blue swapped)."""
    import cv2

    code = cv2.COLOR_BGR2HSV if as_bgr else cv2.COLOR_RGB2HSV
    return cv2.cvtColor(np.ascontiguousarray(frame), code)[..., 0].astype(np.float64).ravel()


def _hue_cosines(gt: np.ndarray, rec: np.ndarray, as_bgr: bool = False) -> list[float]:
    """Per frame, the cosine of the two hue channels (NaN where a hue channel is all 0)."""
    out = []
    for g, r in zip(gt, rec, strict=True):
        a, b = _hue(g, as_bgr), _hue(r, as_bgr)
        den = np.linalg.norm(a) * np.linalg.norm(b)
        out.append(float(a @ b / den) if den else float("nan"))
    return out


def hue_cosine(gt: np.ndarray, rec: np.ndarray) -> float:
    return _mean_defined(_hue_cosines(gt, rec))


def hue_pearson(gt: np.ndarray, rec: np.ndarray) -> float:
    out = []
    for g, r in zip(gt, rec, strict=True):
        a, b = _hue(g), _hue(r)
        out.append(float(np.corrcoef(a, b)[0, 1]) if a.std() and b.std() else float("nan"))
    return _mean_defined(out)


def colour_delta_e(gt: np.ndarray, rec: np.ndarray) -> float:
    """Mean-colour distance: per frame, the CIEDE2000 colour difference (scikit-image, CIELAB under D65)
    between the two frames' mean RGB colours, averaged over the frames (lower is better; about 2.3 is a
    just-noticeable difference). Unlike the hue metrics it is defined for every frame and weighs every
    pixel's colour, not only its hue."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    def lab(clip):  # (F, 1, 1, 3) mean colours in [0, 1] -> CIELAB
        return rgb2lab(clip.reshape(len(clip), -1, 3).mean(1)[:, None, None, :] / 255.0)

    return float(deltaE_ciede2000(lab(gt), lab(rec)).mean())


def flows(clip: np.ndarray) -> np.ndarray:
    """Farneback optical flow (F - 1, H, W, 2) between consecutive grayscale frames."""
    import cv2

    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in clip]
    pairs = zip(gray[:-1], gray[1:], strict=True)
    return np.stack([cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK) for a, b in pairs])


def epe(gt: np.ndarray, rec: np.ndarray, gt_flow: np.ndarray | None = None) -> float:
    fg = flows(gt) if gt_flow is None else gt_flow
    return float(np.linalg.norm(fg - flows(rec), axis=-1).mean())


def shuffle_p(metric, gt: np.ndarray, rec: np.ndarray, n: int = 100, higher_is_better: bool = False,
              seed: int = 0) -> float:  # fmt: skip
    """Mind-Animator's shuffle test: the share of ``n`` random frame orders of ``rec`` that outperform the
    original order under ``metric(gt, rec)`` (small: the order carries the motion)."""
    rng = np.random.default_rng(seed)
    ref = metric(gt, rec)
    better = 0
    for _ in range(n):
        s = metric(gt, rec[rng.permutation(len(rec))])
        better += s > ref if higher_is_better else s < ref
    return better / n


def epe_shuffle_p(gt: np.ndarray, rec: np.ndarray, n: int = 100, seed: int = 0, gt_flow=None,
                  cache: dict | None = None) -> float:  # fmt: skip
    """:func:`shuffle_p` of :func:`epe`, with the flow of each ordered frame pair of ``rec`` computed once
    (a shuffled clip's consecutive pairs recur across shuffles: 100 shuffles of 33 frames need at most
    33 x 32 flows instead of 3,200). Same draws and result as ``shuffle_p(epe, gt, rec, n, seed=seed)``.
    ``cache``: a dict of ``rec``'s pair flows to fill and reuse (the same reconstruction scored against
    other ground truths)."""
    import cv2

    fg = flows(gt) if gt_flow is None else gt_flow
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in rec]
    cache = {} if cache is None else cache

    def score(order) -> float:
        fr = []
        for a, b in zip(order[:-1], order[1:], strict=True):
            if (a, b) not in cache:
                cache[(a, b)] = cv2.calcOpticalFlowFarneback(gray[a], gray[b], None, *FARNEBACK)
            fr.append(cache[(a, b)])
        return float(np.linalg.norm(fg - np.stack(fr), axis=-1).mean())

    rng = np.random.default_rng(seed)
    ref = score(list(range(len(rec))))
    return sum(score(list(rng.permutation(len(rec)))) < ref for _ in range(n)) / n


# --- the convention ledger: values as the papers' released code computes them ----------------------------


def hue_cosine_as_released(gt: np.ndarray, rec: np.ndarray, frames: int = 6) -> float:
    """Mind-Animator's Hue-pcc as released: RGB frames read as BGR, the first ``frames`` frames only."""
    # as released: an undefined frame makes the clip undefined (a plain mean)
    return float(np.mean(_hue_cosines(gt[:frames], rec[:frames], as_bgr=True)))


def ssim_gray_as_released(gt: np.ndarray, rec: np.ndarray) -> float:
    """NEURONS' gray SSIM as released: the mean of the 1-D SSIMs of the image columns (scikit-image treats
    the last axis of the 2-D gray image as channels)."""
    from scipy.ndimage import gaussian_filter1d
    from skimage.color import rgb2gray

    # What scikit-image's structural_similarity(channel_axis=-1, gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False, data_range=1) computes column by column, vectorised over the frames and
    # the columns: the same Gaussian filter (truncate 3.5, reflect) along the columns, the same constants,
    # the SSIM map cropped by the window's half-width. Measured: the per-column calls took 1.5 s per
    # 33-frame 64 x 96 clip (45 of the demo's 85 s of scoring per subject), this takes 0.01 s; equal to
    # float precision (tests/test_benchmark.py compares them).
    x, y = rgb2gray(gt), rgb2gray(rec)  # (F, H, W) in [0, 1]
    sigma, truncate = 1.5, 3.5
    pad = int(truncate * sigma + 0.5)  # skimage's window is 2 * pad + 1 = 11 rows

    def blur(a):
        return gaussian_filter1d(a, sigma, axis=1, mode="reflect", truncate=truncate)

    ux, uy = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return float(s[:, pad:-pad].mean())


def epe_as_released(gt: np.ndarray, rec: np.ndarray, size: int = 512) -> float:
    """Mind-Animator's EPE as released: frames resized to ``size`` x ``size`` and made gray as if BGR."""
    import cv2

    def flow(clip):
        gray = [cv2.cvtColor(cv2.resize(np.ascontiguousarray(f), (size, size)), cv2.COLOR_BGR2GRAY) for f in clip]
        return np.stack([cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK)
                         for a, b in zip(gray[:-1], gray[1:], strict=True)])  # fmt: skip

    return float(np.linalg.norm(flow(gt) - flow(rec), axis=-1).mean())


#: The ledger: metric -> (its value as the released code computes it, where that code is).
AS_RELEASED = {
    "hue_cosine": (hue_cosine_as_released, "Mind-Animator Evaluation_Metrics/hue_pcc.py: RGB read as BGR, first 6 frames"),
    "ssim_gray": (ssim_gray_as_released, "NEURONS eval_metrics.py: mean of column-wise 1-D SSIMs"),
    "epe": (epe_as_released, "Mind-Animator Evaluation_Metrics/EPE.py: 512 x 512, RGB read as BGR"),
}
