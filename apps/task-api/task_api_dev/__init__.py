"""Development helpers for the Task API tests and benchmark; not part of the image."""
