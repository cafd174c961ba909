import sys

from usdk.cli import main

sys.exit(main())
