"""Project bundles: one zip file with a project's blocks, edges, datasets (every version
and its bytes), runs and outputs; exported by viewers, imported as a new project.

- ``schema.py``   the bundle's JSON (pydantic models, the format name and version)
- ``zipsafe.py``  reading an untrusted zip: entry checks, bounded extraction
- ``references.py`` every id a bundle names must be one of its own
- ``export.py``   a project -> the zip (written to a temporary file, streamed out)
- ``load.py``     a checked bundle -> rows of a new project, ids remapped
- ``service.py``  BundleService: role checks, the steps in order, cleanup on failure
"""
