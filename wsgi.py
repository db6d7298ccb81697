"""WSGI entry point: `gunicorn wsgi:app`."""

import gc

from app import create_app

app = create_app()
# Everything made so far (modules, the app, SQLAlchemy's metadata) lives as long as the process: keep it out of
# the garbage collector's full passes, which otherwise walk all of it and stall a request for milliseconds.
# Workers fork from this state (gunicorn's documented use of gc.freeze).
gc.freeze()
