"""Image analysis: turns image files into ImageAnalysis facts and items into suggestions.

Pure Python and Pillow (no Temporal, no database), so activities can run it in a process pool
and tests can run it on generated images.
"""

from bubble_worker.analysis.errors import ImageRejectedError
from bubble_worker.analysis.hashing import file_sha256
from bubble_worker.analysis.registry import Analyzer, analyze_image_file, get_analyzer
from bubble_worker.analysis.suggestions import suggest_for_item

__all__ = [
    "Analyzer",
    "ImageRejectedError",
    "analyze_image_file",
    "file_sha256",
    "get_analyzer",
    "suggest_for_item",
]
