"""WSGI entry point: `gunicorn wsgi:app`."""

import gc

from app import create_app

app = create_app()
# Everything made so far (modules, the app, SQLAlchemy's metadata) lives as long as the process: keep it out of
# the garbage collector's full passes, which otherwise walk all of it and stall a request for milliseconds.
# (Each gunicorn worker imports this module and builds its own app, then freezes.)
gc.freeze()
# A request makes a few thousand short-lived objects, nearly all freed by reference counting; collecting the
# youngest generation every 700 allocations (the default) runs the collector several times per request for
# little. Every 10,000 it runs about once every few requests.
gc.set_threshold(10_000, 10, 10)
