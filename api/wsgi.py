"""WSGI entry point for gunicorn: ``gunicorn api.wsgi:app``."""

from api.app import create_app
from shared.settings import get_settings

app = create_app(get_settings())
