"""One router per domain; each is a thin shell over the library."""
