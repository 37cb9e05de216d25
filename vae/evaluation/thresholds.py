"""Thresholds you can ship: an outlier label and a normalised score from the run's detector score.

A run's detector score is the one its outliers are judged by: the score corrected for complexity on a run whose
likelihood is a code length of its data (`vae.evaluation.complexity`), the importance-weighted bound otherwise.
`vae-eval --set-threshold RULE` chooses a threshold on it and saves it in the run (`threshold.json`):

- `fpr=R`: the score above which a share R of the held-out normal images (the run's test split) lies, their 1 - R
  quantile; it needs no outliers, and flags about R of normal images;
- `f1`: the threshold that maximises F1 with the outliers of `--outliers` as the positive class, the F1-adaptive
  threshold of anomalib; it needs labelled outliers.

From then on every score of the run carries `outlier`, 1 above the threshold and 0 at or below it, and
`normalised_score` in [0, 1], anomalib's min-max normalisation with the threshold at 0.5:
0.5 + (score - threshold) / (high - low), clipped, where low and high are the lowest and highest scores of the
images the threshold was chosen on. An exported model carries the threshold in model.json and returns the same two
from its `score` endpoint.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vae import files
from vae.errors import ThresholdWarning, UsageError, first_line
from vae.evaluation import complexity
from vae.run.directory import RunDir
from vae.run.records import weights_digest

THRESHOLD_FILE = "threshold.json"
RULES = ("fpr=R", "f1")
LABEL = "outlier"
NORMALISED = "normalised_score"


def detector_score(config) -> str:
    """The name of the score a run's outliers are judged by (see the module's docstring)."""
    from vae.evaluation.estimators import importance_weighted_metric_name

    return complexity.CORRECTED if complexity.corrects(config) else importance_weighted_metric_name(config)


@dataclass(frozen=True)
class Threshold:
    """A threshold on a run's detector score, how it was chosen, and the range that normalises the score."""

    score: str
    value: float
    rule: str
    low: float
    high: float
    inliers: int
    outliers: int
    weights_sha256: str  # the weights whose scores it was chosen on
    # The importance samples of the bound behind those scores: the bound tightens as k grows, so scores from another
    # k sit elsewhere against the threshold. None in thresholds saved before it was recorded.
    k: int | None = None

    def labels(self, scores) -> np.ndarray:
        """1 where a score lies above the threshold, else 0, int32."""
        return (np.asarray(scores, np.float64) > self.value).astype(np.int32)

    @property
    def spread(self) -> float:
        """high - low, the range that normalises the score, kept above 0."""
        return max(self.high - self.low, float(np.finfo(np.float32).tiny))

    def normalised(self, scores) -> np.ndarray:
        """The scores in [0, 1], the threshold at 0.5 (anomalib's min-max normalisation), float64."""
        return np.clip(0.5 + (np.asarray(scores, np.float64) - self.value) / self.spread, 0.0, 1.0)

    def outputs_of(self, scores: dict) -> dict:
        """`outlier` and `normalised_score` as tensors, from a dict of score tensors: what an exported model's `score`
        endpoint adds, computed as `labels` and `normalised` compute them, in float32."""
        from keras import ops

        values = scores[self.score]
        return {
            LABEL: ops.cast(values > self.value, "int32"),
            NORMALISED: ops.clip(0.5 + (values - self.value) / self.spread, 0.0, 1.0),
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Threshold:
        try:
            threshold = cls(**values)
        except TypeError as error:
            raise UsageError(f"{THRESHOLD_FILE} does not describe a threshold: {error}") from None
        numbers = (threshold.value, threshold.low, threshold.high)
        if not all(_finite(number) for number in numbers):
            raise UsageError(f"{THRESHOLD_FILE} holds a threshold or range that is not a finite number")
        if threshold.low > threshold.high:
            raise UsageError(f"{THRESHOLD_FILE} holds a range whose low end is above its high end")
        if threshold.k is not None and not (_whole(threshold.k) and threshold.k >= 1):
            raise UsageError(f"{THRESHOLD_FILE} holds k = {threshold.k!r}, not a whole number of samples")
        return threshold

    def warning_for(self, k: int) -> str | None:
        """The line to show when scores from `k` importance samples are labelled by a threshold chosen at another."""
        if self.k is None or k == self.k:
            return None
        return (
            f"the saved threshold was chosen on scores from k = {self.k} importance samples, these are from k = {k}, "
            f"whose bound sits elsewhere against it: score with k = {self.k} for the labels it was chosen for"
        )


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    """A JSON number that is finite as a float: not a bool, and not an integer too large for one."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_rule(text: str, outliers: bool) -> tuple[str, float | None]:
    """`parse_rule`, and a UsageError for `f1` without labelled `outliers`."""
    kind, rate = parse_rule(text)
    if kind == "f1" and not outliers:
        raise UsageError("--set-threshold f1 needs labelled outliers: give them with --outliers, or use fpr=R")
    return kind, rate


def parse_rule(text: str) -> tuple[str, float | None]:
    """("fpr", R) or ("f1", None) from `fpr=R` (0 < R < 1) or `f1`; a UsageError naming the rules otherwise."""
    if text == "f1":
        return "f1", None
    name, _, value = text.partition("=")
    if name == "fpr":
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        if 0.0 < rate < 1.0:
            return "fpr", rate
    raise UsageError(
        f"--set-threshold must be {' or '.join(RULES)} with 0 < R < 1 (fpr=0.01: 1 % false alarms), got {text!r}"
    )


def f1_optimal(inliers: np.ndarray, outliers: np.ndarray) -> tuple[float, float]:
    """The threshold t that maximises F1 of "score > t" with the outliers as positives, and that F1. The candidates
    are the midpoints between neighbouring distinct scores, so that the threshold separates them as it should."""
    scores = np.concatenate([inliers, outliers]).astype(np.float64)
    positive = np.concatenate([np.zeros(len(inliers)), np.ones(len(outliers))])
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    # Flagging the top i+1 scores: true positives and F1 at each cut, taken only where the next score differs.
    true_positives = np.cumsum(positive)
    flagged = np.arange(1, len(scores) + 1)
    f1 = 2 * true_positives / (flagged + len(outliers))
    cuts = np.flatnonzero(np.append(scores[1:] < scores[:-1], True))
    best = cuts[np.argmax(f1[cuts])]
    below = scores[best + 1] if best + 1 < len(scores) else scores[best] - 1.0
    return float((scores[best] + below) / 2), float(f1[best])


def choose_threshold(
    rule: str, score: str, weights: str, inliers: np.ndarray, outliers: np.ndarray | None = None, k: int | None = None
) -> Threshold:
    """The threshold of `rule` on `score` of the weights whose SHA-256 is `weights`, from the held-out normal
    images' scores `inliers` and, for `f1`, the labelled `outliers`' scores, computed from `k` importance samples."""
    inliers = np.asarray(inliers, np.float64)
    outliers = np.zeros(0) if outliers is None else np.asarray(outliers, np.float64)
    kind, rate = check_rule(rule, len(outliers) > 0)
    if not (np.all(np.isfinite(inliers)) and np.all(np.isfinite(outliers))):
        raise UsageError("some scores are not finite numbers (the run may have diverged): no threshold is chosen")
    if kind == "f1":
        value, _ = f1_optimal(inliers, outliers)
    else:
        value = float(np.quantile(inliers, 1.0 - rate))
    seen = np.concatenate([inliers, outliers])
    return Threshold(score, value, rule, float(seen.min()), float(seen.max()), len(inliers), len(outliers), weights, k)


def save_threshold(run_dir: RunDir, threshold: Threshold) -> Path:
    """Write the threshold into the run's output folder, atomically; its path."""
    path = run_dir.output_dir() / THRESHOLD_FILE
    files.write_json(path, threshold.to_dict())
    return path


def load_threshold(run_dir: RunDir, config) -> Threshold | None:
    """The run's saved threshold, or None; a UsageError for a damaged one, one of another score, or one chosen on
    weights the run no longer has."""
    path = run_dir.output_dir() / THRESHOLD_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        reason = first_line(error)
        raise UsageError(f"{path} cannot be read ({reason}): set it again with vae-eval --set-threshold") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path} does not describe a threshold: set it again with vae-eval --set-threshold")
    threshold = Threshold.from_dict(values)
    if threshold.score != detector_score(config):
        raise UsageError(f"{path} is a threshold on {threshold.score}, not on this run's {detector_score(config)}")
    if threshold.weights_sha256 != weights_digest(run_dir):
        raise UsageError(
            f"{path} was chosen on weights the run no longer has (it trained on since): set it again with vae-eval "
            "--set-threshold"
        )
    return threshold


def with_threshold(scores: dict, threshold: Threshold | None, k: int | None = None) -> dict:
    """`scores` with `outlier` and `normalised_score` of the threshold's score added, where a threshold is set; a
    ThresholdWarning where the scores come from `k` importance samples and the threshold was chosen at another k."""
    if threshold is None or threshold.score not in scores:
        return scores
    line = None if k is None else threshold.warning_for(k)
    if line:
        warnings.warn(line, ThresholdWarning, stacklevel=2)
    values = scores[threshold.score]
    return scores | {LABEL: threshold.labels(values), NORMALISED: threshold.normalised(values)}
