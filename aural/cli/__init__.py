"""The ``aural`` command.  Each module here with a ``register(subparsers)`` function adds one
subcommand; :mod:`aural.cli.main` finds them, so a new command needs no edit elsewhere."""
