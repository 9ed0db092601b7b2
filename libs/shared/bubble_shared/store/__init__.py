"""The store, one class per table family: items, what runs write to them, owner notifications,
the analysis cache and idempotency records.

engine = create_engine(url)                # sqlite:///... or postgresql://...
upgrade(url)                               # Alembic migrations to the newest revision
items = ItemStore(engine)                  # create, get and list items
run_writes = RunWrites(engine)             # a run's claim on an item, then its outcome
notifications = NotificationStore(engine)  # owner notifications and their deliveries
cache = AnalysisCache(engine)              # image analyses by content hash and analyser version
requests = RequestStore(engine)            # idempotency records (AIP-155)
runs = RunRecords(engine)                  # the read model of item runs (GetStatus, WatchStatus)
batches = BatchStore(engine)               # batches, their members and counters
windows = BatchWindows(engine)             # a running batch's window: what to start next
uploads = UploadStore(engine)              # images uploaded in chunks, until CreateItem uses them
answers = VisionAnswerCache(engine)        # vision-model answers by images, text, model, prompt
browsing = Browsing(engine)                # the dashboard's listings: batches, members, runs
"""

from bubble_shared.store.analysis_cache import AnalysisCache
from bubble_shared.store.batch_window import BatchWindows, JoinedRun, StartedRun, StartPlan, Window
from bubble_shared.store.batches import BatchStore, NewBatch
from bubble_shared.store.browsing import BatchMember, Browsing
from bubble_shared.store.database import create_engine
from bubble_shared.store.errors import (
    InvalidPageTokenError,
    ItemAlreadyExistsError,
    ItemNotFoundError,
    NotificationNotFoundError,
)
from bubble_shared.store.items import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ItemStore,
    NewImage,
)
from bubble_shared.store.notifications import Notification, NotificationStore
from bubble_shared.store.requests import RequestStore, StoredResponse
from bubble_shared.store.run_records import RunRecords, RunStep
from bubble_shared.store.run_writes import ItemClaim, RunWrites
from bubble_shared.store.schema import upgrade
from bubble_shared.store.uploads import StoredUpload, UploadStore
from bubble_shared.store.vision_answers import VisionAnswerCache

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "AnalysisCache",
    "BatchMember",
    "BatchStore",
    "BatchWindows",
    "Browsing",
    "InvalidPageTokenError",
    "ItemAlreadyExistsError",
    "ItemClaim",
    "ItemNotFoundError",
    "ItemStore",
    "JoinedRun",
    "NewBatch",
    "NewImage",
    "Notification",
    "NotificationNotFoundError",
    "NotificationStore",
    "RequestStore",
    "RunRecords",
    "RunStep",
    "RunWrites",
    "StartPlan",
    "StartedRun",
    "StoredResponse",
    "StoredUpload",
    "UploadStore",
    "VisionAnswerCache",
    "Window",
    "create_engine",
    "upgrade",
]
