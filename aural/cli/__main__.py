"""``python -m aural.cli ...`` is the ``aural`` command."""
import sys

from aural.cli.main import main

sys.exit(main())
