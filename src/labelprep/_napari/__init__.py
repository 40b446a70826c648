"""Everything that imports napari or Qt: dock widgets, readers, writers, sample data.

The widgets are thin: they read layer data, call the core (``labelprep.*``) in a
``thread_worker`` with progress, and put results back as layers or tables.
"""
