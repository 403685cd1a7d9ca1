"""Task API: the JWT-protected task service the Gauntlet platform delivers."""

__version__ = "0.1.0"
