"""fMRI branch: grayordinate layout, CIFTI I/O (more stages arrive with the fMRI issue)."""
