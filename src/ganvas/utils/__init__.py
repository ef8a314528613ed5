"""Small shared helpers: atomic file writes and image grids."""
