"""The choices a :class:`~labelprep.patches.PatchSampler` accepts, shared by its modules."""

from __future__ import annotations

import os

MODES = ("uniform", "foreground", "class_balanced")
BORDERS = ("valid", "pad")
PAD_MODES = ("constant", "reflect")
#: What a source that cannot be read or used does: raise in the caller, or be skipped.
ON_ERROR = ("raise", "skip")
#: A trailing axis longer than this is not taken as a channel axis (it is probably a
#: spatial axis of a volume given with a 2D ``patch_size``).
MAX_CHANNELS = 16

PathLike = str | os.PathLike
