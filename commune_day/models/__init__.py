"""The commune transaction day's tables, one module per part of the day."""

from .fees import *  # noqa: F403
from .sessions import *  # noqa: F403
