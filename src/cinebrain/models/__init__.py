"""Brain encoders and decoders (CineSync first; the sibling papers' models as variants)."""
