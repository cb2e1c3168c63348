"""fMRI branch: the 91k grayordinate layout and CIFTI reading (``grayordinates``), fMRIPrep runners and
checks (``fmriprep``), ROI sets (``rois``), extraction and confound regression (``extract``), and
normalisation with the stimulus-to-volume alignment (``normalise``)."""
