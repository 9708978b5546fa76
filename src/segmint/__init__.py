"""segmint: customer segmentation and targeting for commerce."""
