"""The commune transaction day's tables, one module per part of the day."""

from .custody import *  # noqa: F403
from .fees import *  # noqa: F403
from .sessions import *  # noqa: F403
