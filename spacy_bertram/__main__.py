"""`python -m spacy_bertram COMMAND`: the command-line interface (see `cli/`)."""
from .cli import main

if __name__ == "__main__":
    main()
