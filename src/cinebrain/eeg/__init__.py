"""EEG branch: MR-gradient removal (``gradient``), ballistocardiogram removal (``bcg``), the chain up to
the ICA fit (``preprocess``), ICA and its editable components table (``ica``), and the clean EEG with its
QC (``clean``)."""
