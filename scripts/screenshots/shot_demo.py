"""docs/images/demo.png: what `labelprep demo` opens."""

from labelprep._commands.demo import open_demo

OUTPUT = "docs/images/demo.png"


def stage(viewer, wait_until):
    open_demo(viewer, "cells3d")
