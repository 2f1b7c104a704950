"""The migration engine of the Inopsio platform."""

__version__ = "0.1.0"
