"""The training machinery shared by every model: loop, checkpoints, schedules, distributed set-up."""

from .loop import Trainer, TrainingInterrupted, TrainingLocked, TrainSettings, split_fingerprint

__all__ = ["TrainSettings", "Trainer", "TrainingInterrupted", "TrainingLocked", "split_fingerprint"]
