"""accelo-kit: get data out of Accelo quickly, completely and safely."""

__version__ = "0.1.0"

__all__ = ["__version__"]
