"""The Temporal worker of Bubble item processing: workflows, activities, the worker process."""
