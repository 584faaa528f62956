"""``python -m gateway --config gateway.yaml``."""

from gateway.server import main

if __name__ == "__main__":
    main()
