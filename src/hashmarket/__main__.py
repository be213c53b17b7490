"""``python -m hashmarket``."""

from hashmarket.cli import main

if __name__ == "__main__":
    main()
