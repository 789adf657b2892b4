import sys

from physfoley.cli import main

sys.exit(main())
