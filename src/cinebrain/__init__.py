"""cinebrain: simultaneous EEG+fMRI during films -> brain-to-video/audio decoders and Cine-Benchmark."""

__version__ = "0.1.0"
