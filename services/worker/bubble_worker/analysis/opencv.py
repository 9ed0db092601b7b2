"""OpenCV, set up for analysis processes: import ``cv2`` from here."""

from __future__ import annotations

import cv2

cv2.setNumThreads(1)  # each analysis process is one core's worth of work; no thread pools

__all__ = ["cv2"]
