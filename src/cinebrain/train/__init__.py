"""The training machinery shared by every model: loop, checkpoints, schedules, distributed set-up."""

from .loop import Trainer, TrainingInterrupted, TrainSettings, split_fingerprint

__all__ = ["TrainSettings", "Trainer", "TrainingInterrupted", "split_fingerprint"]
