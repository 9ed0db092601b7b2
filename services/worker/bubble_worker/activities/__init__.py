"""The activities: image analysis, item writes, owner notifications."""
