"""`python -m cnnexp`: see cnnexp/app.py."""

from cnnexp.app import main

if __name__ == "__main__":
    main()
