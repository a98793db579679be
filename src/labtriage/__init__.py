"""labtriage: find the mislabeled rows of a wet-lab assay table and estimate its label noise."""

__version__ = "0.1.0"
