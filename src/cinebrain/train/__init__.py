"""The training machinery shared by every model: loop, checkpoints, schedules, distributed set-up."""

from .loop import Trainer, TrainingInterrupted, TrainSettings

__all__ = ["TrainSettings", "Trainer", "TrainingInterrupted"]
